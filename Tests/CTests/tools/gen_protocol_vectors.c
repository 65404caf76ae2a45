/*
 * gen_protocol_vectors.c - write Tests/Vectors/protocol-v2.json to stdout.
 * Build and run from the repository root (see Tests/Vectors/README.md):
 *
 *   cc -std=c99 -Iinclude -ITests/CTests -o build/gen_protocol_vectors
 *      Tests/CTests/tools/gen_protocol_vectors.c CSources/[all .c files] -lmbedcrypto
 *   build/gen_protocol_vectors > Tests/Vectors/protocol-v2.json
 */
#include "tools/protocol_vectors.h"

static pv_buf buf;

int main(void)
{
    if (pv_build(&buf) != 0) {
        fprintf(stderr, "gen_protocol_vectors: %s\n", buf.why[0] ? buf.why : "buffer overflow");
        return 1;
    }
    fwrite(buf.s, 1, buf.n, stdout);
    return 0;
}
