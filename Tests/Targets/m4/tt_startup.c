/*
 * tt_startup.c - reset handler and vector table for the test and benchmark
 * images on QEMU's mps2-an386 (Cortex-M4), with newlib's semihosting
 * (rdimon) for stdio, files and exit.
 *
 * QEMU passes the command line through semihosting (SYS_GET_CMDLINE):
 * `-semihosting-config enable=on,target=native,arg=NAME,arg=VAR=VALUE...`.
 * Words of the form VAR=VALUE become the program's environment, so the
 * unmodified tests find $MB_VECTORS_DIR as on the host. A fault ends the
 * run with a message and a non-zero exit status.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern char **environ;
extern uint32_t __bss_start__[], __bss_end__[], __stack_top[];

void tt_reset(void);
void tt_fault(void);
void _init(void);
void _fini(void);

/* newlib's __libc_init_array calls these (crti.o is not linked). */
void _init(void) {}
void _fini(void) {}

#define SYS_GET_CMDLINE 0x15

static int tt_semihost(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static char tt_cmdline[1024];
static char *tt_env[16];

static void tt_read_env(void)
{
    struct { char *buf; int len; } block = { tt_cmdline, (int)sizeof(tt_cmdline) - 1 };
    size_t n = 0;
    char *p;
    if (tt_semihost(SYS_GET_CMDLINE, &block) != 0) {
        return;
    }
    tt_cmdline[sizeof(tt_cmdline) - 1] = '\0';
    for (p = strtok(tt_cmdline, " "); p != NULL && n + 1 < 16u; p = strtok(NULL, " ")) {
        if (strchr(p, '=') != NULL) {
            tt_env[n++] = p;
        }
    }
    tt_env[n] = NULL;
    environ = tt_env;
}

void tt_reset(void)
{
    uint32_t *p;
    for (p = __bss_start__; p < __bss_end__; p++) {
        *p = 0;
    }
    initialise_monitor_handles();
    tt_read_env();
    __libc_init_array();
    exit(main());
}

void tt_fault(void)
{
    static const char msg[] = "tt_startup: processor fault (HardFault/MemManage/BusFault/UsageFault)\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    exit(3);
}

/* Initial stack pointer, reset, NMI, HardFault, MemManage, BusFault, UsageFault. */
__attribute__((section(".vectors"), used))
static void (*const tt_vectors[7])(void) = {
    (void (*)(void))__stack_top, tt_reset, tt_fault, tt_fault, tt_fault, tt_fault, tt_fault,
};
