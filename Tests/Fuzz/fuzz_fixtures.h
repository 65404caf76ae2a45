/*
 * fuzz_fixtures.h - genuine material the harnesses and the seed generator
 * share: deterministic RNG, the pair of Tests/Vectors/protocol-v2.json, the
 * device and app binding keys, genuine key packages, reports and key-store
 * images. The harnesses compare what a parser accepts against these.
 */
#ifndef FUZZ_FIXTURES_H
#define FUZZ_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "modbatt/modbatt.h"

/* xorshift64; user points to the state. Never fails. */
int fz_rng(void *user, uint8_t *out, size_t len);

/* The protocol-vector pair (key id c00f4d11) from one side. 0 on success. */
int fz_pair_keys(int device_side, mb_pair_keys *out);

/* Binding keys: the device the packages are sealed to, the app that signs. */
typedef struct fz_ec_keys {
    uint8_t dev_priv[32], dev_pub[65];
    uint8_t app_priv[32], app_pub[65];
} fz_ec_keys;
const fz_ec_keys *fz_ec(void);

#define FZ_DEVICE_COMP "comp_module_07"
#define FZ_DEVICE_ID   0x07u
#define FZ_KEYPKG_VARIANTS 3u   /* sealed 1 pair, sealed 3 pairs, bootstrap */
/* Genuine package \p variant (version = variant + 1). 0 on success. */
int fz_keypkg_build(unsigned variant, uint8_t *out, size_t cap, size_t *len);

#define FZ_REPORT_VARIANTS 3u   /* delivery, key-store status, alert */
/* Genuine report \p variant (sequence = variant + 1); pt gets its plaintext. */
int fz_report_build(unsigned variant, uint8_t *out, size_t cap, size_t *len,
                    uint8_t *pt, size_t pt_cap, size_t *pt_len);

/* RAM flash for the key store: two slots of mb_keystore_slot_size(). */
#define FZ_KS_PAGE 256u
#define FZ_KS_AREA (2u * 1536u)
typedef struct fz_flash {
    uint8_t mem[FZ_KS_AREA];
    uint32_t counter;
    int has_counter;
} fz_flash;
void fz_ks_platform(fz_flash *f, mb_ks_platform *plat);
const uint8_t *fz_ks_storage_key(void);
const uint8_t *fz_ks_uid(void);
/* Genuine record \p variant (0..2): different pair counts and flags. */
void fz_ks_record(unsigned variant, mb_ks_record *rec);
/* Blank flash, then write records 0 and 1 (generations 1, 2), record 0
 * left in slot 0 as a write cut before its last step (erasing the older
 * slot) leaves it: both generations on flash. 0 on success. */
int fz_ks_image(fz_flash *f);

#endif /* FUZZ_FIXTURES_H */
