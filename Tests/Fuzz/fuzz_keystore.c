/*
 * fuzz_keystore.c - key-store record load at boot (mb_keystore_boot: slot
 * parsing, length, CRC, uid, MAC, decryption, generation and monotonic
 * counter) on arbitrary flash contents.
 *
 * Input: counter u8 (bit 7: a monotonic counter exists, bits 0..6 its
 * value), then the flash image of both slots (missing bytes are erased).
 * Invariants:
 *  - only a record this device wrote loads: on MB_OK the record equals one
 *    of the genuine records (all fields), its generation is at least the
 *    counter, the counter was raised to it, and the selected slot is 0/1;
 *  - on error the record is zeroed, nothing is selected, the reason is a
 *    documented one, and the flash is as it was (a refusing boot erases
 *    nothing);
 *  - one generation left: after a boot that selected a record, and after a
 *    write, the other slot is blank;
 *  - no state corruption: whatever boot found, writing a new record
 *    succeeds and the next boot loads exactly that record with a higher
 *    generation;
 *  - the monotonic counter never goes down.
 */
#include "fuzz_common.h"
#include "fuzz_fixtures.h"

static int genuine_variant(const mb_ks_record *r)
{
    static mb_ks_record g;
    unsigned v;
    for (v = 0; v < 3u; v++) {
        fz_ks_record(v, &g);
        g.generation = r->generation;
        if (memcmp(&g, r, sizeof(g)) == 0) {
            return (int)v;
        }
    }
    return -1;
}

static int slot_blank(const fz_flash *f, int slot)
{
    const uint8_t *p = f->mem + (size_t)slot * (FZ_KS_AREA / 2u);
    size_t i;
    for (i = 0; i < FZ_KS_AREA / 2u; i++) {
        if (p[i] != 0xFFu) {
            return 0;
        }
    }
    return 1;
}

static int boot_code_ok(int ret)
{
    return ret == MB_ERR_ROLLBACK || ret == MB_ERR_WRONG_DEVICE || ret == MB_ERR_AUTH ||
           ret == MB_ERR_VERSION || ret == MB_ERR_INTEGRITY || ret == MB_ERR_TRUNCATED ||
           ret == MB_ERR_NOT_FOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz_flash flash;
    static uint8_t image[FZ_KS_AREA];
    static mb_keystore ks;
    static mb_ks_record rec, fresh;
    static uint64_t rng = 0x9FB21C651E98DF25ull;
    mb_ks_platform plat;
    mb_ks_boot_info info;
    fz_in in = { data, size };
    uint8_t c = fz_u8(&in);
    uint32_t counter0, newest = 0;
    int ret;

    memset(flash.mem, 0xFF, sizeof(flash.mem));
    memcpy(flash.mem, in.p, in.n < sizeof(flash.mem) ? in.n : sizeof(flash.mem));
    flash.has_counter = (c & 0x80u) != 0u;
    flash.counter = counter0 = c & 0x7Fu;
    fz_ks_platform(&flash, &plat);
    FZ_CHECK(mb_keystore_init(&ks, &plat, fz_ks_storage_key(), fz_ks_uid()) == MB_OK);
    FZ_CHECK(mb_keystore_slot_size(&ks) * 2u == FZ_KS_AREA);

    memcpy(image, flash.mem, sizeof(image));
    memset(&rec, 0x5A, sizeof(rec));
    ret = mb_keystore_boot(&ks, &rec, &info);
    FZ_CHECK(flash.counter >= counter0);
    if (ret == MB_OK) {
        FZ_CHECK(info.selected == 0 || info.selected == 1);
        FZ_CHECK(genuine_variant(&rec) >= 0);
        FZ_CHECK(!flash.has_counter || (rec.generation >= counter0 &&
                                        flash.counter == rec.generation));
        FZ_CHECK(slot_blank(&flash, 1 - info.selected));
        newest = rec.generation;
    } else {
        FZ_CHECK(boot_code_ok(ret));
        FZ_CHECK(info.selected == -1);
        FZ_CHECK(fz_all_zero(&rec, sizeof(rec)));
        FZ_CHECK(memcmp(image, flash.mem, sizeof(image)) == 0);
    }
    FZ_CHECK(info.slot_status[0] == MB_OK || boot_code_ok(info.slot_status[0]));
    FZ_CHECK(info.slot_status[1] == MB_OK || boot_code_ok(info.slot_status[1]));

    /* Recovery: a new record can always be written and is what loads next. */
    fz_ks_record(2, &fresh);
    ret = mb_keystore_write(&ks, &fresh, fz_rng, &rng);
    if (ret == MB_ERR_STATE) {
        /* Only when the generation would wrap: the fuzzer forged no MAC, so
         * no genuine record can claim such a generation. */
        FZ_CHECK(0 && "write refused");
    }
    FZ_CHECK(ret == MB_OK);
    FZ_CHECK(fresh.generation > newest && (!flash.has_counter || fresh.generation > counter0));
    mb_keystore_free(&ks);
    FZ_CHECK(mb_keystore_init(&ks, &plat, fz_ks_storage_key(), fz_ks_uid()) == MB_OK);
    FZ_CHECK(mb_keystore_boot(&ks, &rec, &info) == MB_OK);
    FZ_CHECK(rec.generation == fresh.generation && genuine_variant(&rec) == 2);
    FZ_CHECK(info.selected >= 0 && slot_blank(&flash, 1 - info.selected));
    mb_keystore_free(&ks);
    mb_ks_record_wipe(&rec);
    return 0;
}
