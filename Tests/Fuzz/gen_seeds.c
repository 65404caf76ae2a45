/*
 * gen_seeds.c - seed inputs from genuine outputs of the core, in each
 * harness's input format: key packages (sealed, 3 pairs, bootstrap) under
 * several policies, reports, and key-store flash images (two records, one,
 * a torn second write). `make -C Tests/Fuzz seeds` runs it, then
 * seed_vectors.py for the seeds taken from Tests/Vectors/protocol-v2.json.
 *
 * Usage: gen_seeds CORPUS_DIR   (writes CORPUS_DIR/<harness>/<name>)
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_fixtures.h"

static const char *root;

static int put(const char *harness, const char *name, uint8_t prefix,
               const uint8_t *data, size_t len)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", root, harness);
    (void)mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", root, harness, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(&prefix, 1, 1, f) != 1 || fwrite(data, 1, len, f) != len) {
        fprintf(stderr, "gen_seeds: cannot write %s\n", path);
        if (f != NULL) {
            fclose(f);
        }
        return 1;
    }
    return fclose(f) != 0;
}

static int keypkg_seeds(void)
{
    static uint8_t pkg[2048];
    static const uint8_t policies[3][2] = { { 0x05, 0x24 }, { 0x05, 0x00 }, { 0x06, 0x02 } };
    char name[64];
    size_t len;
    unsigned v, p;
    int bad = 0;
    for (v = 0; v < FZ_KEYPKG_VARIANTS; v++) {
        if (fz_keypkg_build(v, pkg, sizeof(pkg), &len) != 0) {
            return 1;
        }
        for (p = 0; p < 2u; p++) {
            snprintf(name, sizeof(name), "genuine-v%u-policy%02x", v, policies[v][p]);
            bad |= put("fuzz_keypkg", name, policies[v][p], pkg, len);
        }
    }
    return bad;
}

static int report_seeds(void)
{
    static uint8_t rep[MB_REPORT_MAX], pt[MB_REPORT_PT_MAX];
    char name[64];
    size_t len, pt_len;
    unsigned v;
    int bad = 0;
    for (v = 0; v < FZ_REPORT_VARIANTS; v++) {
        if (fz_report_build(v, rep, sizeof(rep), &len, pt, sizeof(pt), &pt_len) != 0) {
            return 1;
        }
        snprintf(name, sizeof(name), "genuine-type%u", v + 1u);
        bad |= put("fuzz_report", name, 0, rep, len);
    }
    return bad;
}

static int keystore_seeds(void)
{
    static fz_flash f;
    static uint8_t img[FZ_KS_AREA];
    const size_t slot = FZ_KS_AREA / 2u;
    int bad = 0;
    if (fz_ks_image(&f) != 0) {
        return 1;
    }
    memcpy(img, f.mem, sizeof(img));
    bad |= put("fuzz_keystore", "two-records-counter", 0x80, img, sizeof(img));
    bad |= put("fuzz_keystore", "two-records-no-counter", 0x00, img, sizeof(img));
    bad |= put("fuzz_keystore", "rolled-back", 0x82, img, sizeof(img));
    memset(img + slot, 0xFF, slot);                     /* second write never happened */
    bad |= put("fuzz_keystore", "one-record", 0x81, img, sizeof(img));
    memcpy(img, f.mem, sizeof(img));
    memset(img + slot + 200u, 0xFF, slot - 200u);       /* second write torn */
    bad |= put("fuzz_keystore", "torn-write", 0x81, img, sizeof(img));
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
        return 2;
    }
    root = argv[1];
    (void)mkdir(root, 0755);
    if (keypkg_seeds() | report_seeds() | keystore_seeds()) {
        return 1;
    }
    return 0;
}
