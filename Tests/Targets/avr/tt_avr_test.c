/*
 * tt_avr_test.c - runs an unmodified Tests/CTests program on AVR under
 * simavr (tt_avr_run.c): stdout and stderr go to GPIOR0, exit() puts the
 * status in GPIOR1 and stops the core (sleep with interrupts off).
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <stdio.h>
#include <stdlib.h>

static int tt_put(char c, FILE *f)
{
    (void)f;
    GPIOR0 = (uint8_t)c;
    return 0;
}

static FILE tt_stream = FDEV_SETUP_STREAM(tt_put, NULL, _FDEV_SETUP_WRITE);

__attribute__((constructor)) static void tt_stdio(void)
{
    stdout = &tt_stream;
    stderr = &tt_stream;
}

/* Replaces avr-libc's exit(), which main's return calls. */
void exit(int status)
{
    GPIOR1 = (uint8_t)status;
    cli();
    sleep_enable();
    for (;;) {
        sleep_cpu();
    }
}
