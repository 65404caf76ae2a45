/*
 * tt_bench_avr.c - the benchmark's output and exit on AVR under simavr
 * (tt_avr_run.c): text to GPIOR0, the exit status to GPIOR1, then sleep
 * with interrupts off, which simavr reports as a finished program.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>

void tt_print(const char *line);
int tt_bench_main(void);
int main(void);

void tt_print(const char *line)
{
    while (*line != '\0') {
        GPIOR0 = (uint8_t)*line++;
    }
    GPIOR0 = '\n';
}

int main(void)
{
    int status = tt_bench_main();
    GPIOR1 = (uint8_t)status;
    cli();
    sleep_enable();
    sleep_cpu();
    for (;;) {
    }
}
