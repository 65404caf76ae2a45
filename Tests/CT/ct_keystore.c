/*
 * ct_keystore.c - constant-time cases for the key store: writing a record
 * and booting it, with the device's storage key and the record's secrets
 * (binding key, pair secrets) secret. What reaches flash is public (it is
 * encrypted and authenticated, and anyone with the chip can read it).
 */
#include "ct_cases.h"
#include "ct_secret.h"
#include "test_ram_flash.h"

/* Flash writes are declassified as they happen: from here on the bytes
 * are readable by anyone holding the chip. */
static int public_write(void *u, uint32_t off, const uint8_t *buf, size_t len)
{
    int ret = ram_flash_write(u, off, buf, len);
    CT_PUBLIC(ram_flash_mem + off, len);
    return ret;
}

static int fixed_rng(void *u, uint8_t *out, size_t len)
{
    (void)u;
    memset(out, 0xA5, len);
    return MB_OK;
}

static mb_ks_platform plat;
static mb_keystore ks;
static mb_ks_record rec, out;
static uint8_t storage_key[32], uid[16] = { 1, 2, 3 };

static void secret_store(void)
{
    unsigned i;
    plat = *ram_flash_blank();
    plat.write = public_write;
    memset(storage_key, 0x3C, sizeof(storage_key));
    CT_SECRET(storage_key, sizeof(storage_key));
    memset(&rec, 0, sizeof(rec));
    rec.device_id = 5;
    rec.pair_count = 2;
    rec.params.rekey_after_msgs = 1024;
    memset(rec.binding_priv, 0x5A, sizeof(rec.binding_priv));
    CT_SECRET(rec.binding_priv, sizeof(rec.binding_priv));
    for (i = 0; i < rec.pair_count; i++) {
        rec.pairs[i].peer_id = (uint8_t)(i + 1u);
        memset(rec.pairs[i].secret, 0x77 + (int)i, sizeof(rec.pairs[i].secret));
        CT_SECRET(rec.pairs[i].secret, sizeof(rec.pairs[i].secret));
    }
}

int ct_keystore_write(void)
{
    int ret;
    secret_store();
    ret = mb_keystore_init(&ks, &plat, storage_key, uid);
    if (ret == MB_OK) {
        ret = mb_keystore_boot(&ks, &out, NULL) == MB_ERR_NOT_FOUND ? MB_OK : 1;
    }
    if (ret == MB_OK) {
        ret = ct_declassify_int(mb_keystore_write(&ks, &rec, fixed_rng, NULL));
    }
    mb_keystore_free(&ks);
    return ret == MB_OK ? 0 : 1;
}

/* Boot a written store (genuine), then one with a flipped MAC byte. */
int ct_keystore_boot(void)
{
    int good, bad;
    if (ct_keystore_write() != 0) {
        return 1;
    }
    good = mb_keystore_init(&ks, &plat, storage_key, uid);
    if (good == MB_OK) {
        good = ct_declassify_int(mb_keystore_boot(&ks, &out, NULL));
    }
    mb_keystore_free(&ks);
    ram_flash_mem[MB_KS_RECORD_LEN(2) - MB_KS_CRC_LEN - 1u] ^= 0x01u;   /* last MAC byte */
    {
        /* keep the CRC right, so the MAC is what refuses it */
        uint32_t crc = mb_crc32(ram_flash_mem, MB_KS_RECORD_LEN(2) - MB_KS_CRC_LEN);
        uint8_t *c = ram_flash_mem + MB_KS_RECORD_LEN(2) - MB_KS_CRC_LEN;
        c[0] = (uint8_t)(crc >> 24); c[1] = (uint8_t)(crc >> 16);
        c[2] = (uint8_t)(crc >> 8);  c[3] = (uint8_t)crc;
    }
    bad = mb_keystore_init(&ks, &plat, storage_key, uid);
    if (bad == MB_OK) {
        bad = ct_declassify_int(mb_keystore_boot(&ks, &out, NULL));
    }
    mb_keystore_free(&ks);
    mb_ks_record_wipe(&out);
    return (good == MB_OK && bad == MB_ERR_AUTH) ? 0 : 1;
}
