/*
 * tt_avr_run.c - run an AVR image under libsimavr and count its cycles.
 *
 *   tt_avr_run MCU HZ IMAGE.elf BEGIN END [MAX_CYCLES]
 *
 * simavr executes the image instruction by instruction and keeps the
 * exact AVR cycle count (every instruction's cycles from the AVR
 * instruction set manual). Between the program counter reaching BEGIN
 * (tt_mark_begin) and END (tt_mark_end), byte addresses, the cycles are
 * one region; each region prints
 *
 *   tt-region cycles=C stack=S
 *
 * S: the deepest the stack went below its level at BEGIN, in bytes (SP is
 * read after every instruction). The image writes its text to GPIOR0 (one
 * character per write, copied to stdout) and its exit status to GPIOR1,
 * then stops (sleep with interrupts off). At the end:
 *
 *   tt-avr exit=E cycles=C stack_peak=P
 *
 * P: RAMEND minus the lowest SP of the whole run. MAX_CYCLES is a hang
 * guard (default 4e9); reaching it, or a crash, exits 2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"

#define GPIOR0_DATA 0x3Eu   /* I/O 0x1E, the same on the ATmega64M1 and the ATmega1284 */
#define GPIOR1_DATA 0x4Au   /* I/O 0x2A */

static int exit_status = -1;

static void on_gpior0(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)param;
    avr->data[addr] = v;
    putchar(v);
}

static void on_gpior1(struct avr_t *avr, avr_io_addr_t addr, uint8_t v, void *param)
{
    (void)param;
    avr->data[addr] = v;
    exit_status = v;
}

static unsigned sp_of(const avr_t *avr)
{
    return (unsigned)avr->data[R_SPL] | ((unsigned)avr->data[R_SPH] << 8);
}

int main(int argc, char **argv)
{
    elf_firmware_t fw;
    avr_t *avr;
    avr_flashaddr_t begin, end;
    avr_cycle_count_t max_cycles, start = 0;
    unsigned sp_min, region_sp0 = 0, region_min = 0;
    int in_region = 0, state;

    if (argc < 6) {
        fprintf(stderr, "usage: tt_avr_run MCU HZ IMAGE.elf BEGIN END [MAX_CYCLES]\n");
        return 2;
    }
    memset(&fw, 0, sizeof(fw));
    if (elf_read_firmware(argv[3], &fw) != 0) {
        fprintf(stderr, "tt_avr_run: cannot read %s\n", argv[3]);
        return 2;
    }
    strncpy(fw.mmcu, argv[1], sizeof(fw.mmcu) - 1);
    fw.frequency = (uint32_t)strtoul(argv[2], NULL, 0);
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (avr == NULL) {
        fprintf(stderr, "tt_avr_run: simavr does not know %s\n", fw.mmcu);
        return 2;
    }
    avr_init(avr);
    avr->log = 0;
    avr_load_firmware(avr, &fw);
    begin = (avr_flashaddr_t)strtoul(argv[4], NULL, 0);
    end = (avr_flashaddr_t)strtoul(argv[5], NULL, 0);
    max_cycles = argc > 6 ? strtoull(argv[6], NULL, 0) : 4000000000ull;
    avr_register_io_write(avr, GPIOR0_DATA, on_gpior0, NULL);
    avr_register_io_write(avr, GPIOR1_DATA, on_gpior1, NULL);
    sp_min = avr->ramend;

    for (;;) {
        unsigned sp;
        state = avr_run(avr);
        if (state == cpu_Done || state == cpu_Crashed || avr->cycle > max_cycles) {
            break;
        }
        sp = sp_of(avr);
        if (sp < sp_min && sp > 0x100u) {
            sp_min = sp;
        }
        if (in_region && sp < region_min) {
            region_min = sp;
        }
        if (avr->pc == begin) {
            in_region = 1;
            start = avr->cycle;
            region_sp0 = region_min = sp;
        } else if (avr->pc == end && in_region) {
            in_region = 0;
            fflush(stdout);
            fprintf(stderr, "tt-region cycles=%llu stack=%u\n",
                    (unsigned long long)(avr->cycle - start), region_sp0 - region_min);
        }
    }
    fflush(stdout);
    fprintf(stderr, "tt-avr exit=%d cycles=%llu stack_peak=%u\n", exit_status,
            (unsigned long long)avr->cycle, (unsigned)avr->ramend - sp_min);
    if (state == cpu_Crashed || avr->cycle > max_cycles) {
        fprintf(stderr, "tt_avr_run: %s after %llu cycles, pc 0x%05x\n",
                state == cpu_Crashed ? "crashed" : "hang guard reached",
                (unsigned long long)avr->cycle, (unsigned)avr->pc);
        return 2;
    }
    return exit_status == 0 ? 0 : 1;
}
