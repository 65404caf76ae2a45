/*
 * test_vectors_protocol.c - Tests/Vectors/protocol-v2.json matches the code
 * byte for byte: the two reference sessions are run again (handshake,
 * messages in both profiles, rotation), each step checked against the
 * spec's formulas (tools/protocol_vectors.h), and the result compared with
 * the committed file. A mismatch prints the first differing line.
 */
#include "mbt.h"
#include "tools/protocol_vectors.h"

static pv_buf built;
static char file[PV_CAP];

static size_t read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) {
        return 0;
    }
    n = fread(file, 1, sizeof(file) - 1, f);
    fclose(f);
    file[n] = '\0';
    return n;
}

/* $MB_PROTOCOL_VECTORS, else next to this source file, else relative to the
 * two usual working directories (Tests/CTests, the repository root). */
static size_t load_vectors(char *path, size_t cap)
{
    const char *env = getenv("MB_PROTOCOL_VECTORS");
    const char *slash = strrchr(__FILE__, '/');
    const char *rel[2] = { "../Vectors/protocol-v2.json", "Tests/Vectors/protocol-v2.json" };
    size_t n, i;
    if (env != NULL) {
        snprintf(path, cap, "%s", env);
        return read_file(path);
    }
    if (slash != NULL) {
        snprintf(path, cap, "%.*s/../Vectors/protocol-v2.json", (int)(slash - __FILE__), __FILE__);
        if ((n = read_file(path)) != 0) {
            return n;
        }
    }
    for (i = 0; i < 2; i++) {
        snprintf(path, cap, "%s", rel[i]);
        if ((n = read_file(path)) != 0) {
            return n;
        }
    }
    return 0;
}

static void first_difference(const char *a, const char *b)
{
    size_t line = 1, i = 0;
    while (a[i] && a[i] == b[i]) {
        if (a[i] == '\n') line++;
        i++;
    }
    fprintf(stderr, "first difference at line %zu\n", line);
}

static void test_vectors_match(void)
{
    char path[1024];
    size_t n = load_vectors(path, sizeof(path));
    MBT_EQ_INT(pv_build(&built), 0);
    if (built.err) {
        fprintf(stderr, "vector build: %s\n", built.why);
    }
    MBT_CHECK(n > 0);
    if (n == 0) {
        fprintf(stderr, "cannot read %s\n", path);
        return;
    }
    MBT_EQ_INT(n, built.n);
    built.s[built.n] = '\0';
    if (n != built.n || memcmp(file, built.s, n) != 0) {
        first_difference(file, built.s);
        MBT_CHECK(0);
    } else {
        MBT_CHECK(1);
    }
}

/* A sample of the file's content, so a reader sees what is pinned. */
static void test_vectors_shape(void)
{
    MBT_CHECK(strstr(file, "\"version\": 2") != NULL);
    MBT_CHECK(strstr(file, "\"profile\": \"classic\"") != NULL);
    MBT_CHECK(strstr(file, "\"profile\": \"fd\"") != NULL);
    MBT_CHECK(strstr(file, "\"type\": 3, \"epoch\": 1") != NULL);     /* rekey request */
    MBT_CHECK(strstr(file, "{\"sender\": \"controller\", \"id\": \"0c000505\"") != NULL);
}

int main(void)
{
    MBT_RUN(test_vectors_match);
    MBT_RUN(test_vectors_shape);
    return mbt_finish("test_vectors_protocol");
}
