/*
 * test_ram_flash.h - the simplest key-store flash: RAM that erases to 0xFF,
 * no power cuts, no counter (test_keystore.c has the full NOR simulation).
 * For tests that only need a working store.
 */
#ifndef TEST_RAM_FLASH_H
#define TEST_RAM_FLASH_H

#include <string.h>

#include "modbatt/modbatt.h"
#include "modbatt/mb_keystore.h"

#define RAM_FLASH_PAGE 512u
static uint8_t ram_flash_mem[8192];

static int ram_flash_read(void *u, uint32_t off, uint8_t *buf, size_t len)
{
    (void)u;
    memcpy(buf, ram_flash_mem + off, len);
    return MB_OK;
}

static int ram_flash_erase(void *u, uint32_t off, size_t len)
{
    (void)u;
    memset(ram_flash_mem + off, 0xFF, len);
    return MB_OK;
}

static int ram_flash_write(void *u, uint32_t off, const uint8_t *buf, size_t len)
{
    (void)u;
    memcpy(ram_flash_mem + off, buf, len);
    return MB_OK;
}

/* A blank flash and its platform hooks. */
static inline const mb_ks_platform *ram_flash_blank(void)
{
    static const mb_ks_platform plat = { ram_flash_read, ram_flash_erase, ram_flash_write,
                                         NULL, NULL, NULL, RAM_FLASH_PAGE, 4, 0xFF };
    memset(ram_flash_mem, 0xFF, sizeof(ram_flash_mem));
    return &plat;
}

#endif /* TEST_RAM_FLASH_H */
