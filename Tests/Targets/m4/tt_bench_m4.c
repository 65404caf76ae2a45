/* tt_bench_m4.c - the benchmark's output on the Cortex-M4 image (semihosting). */
#include <stdio.h>

void tt_print(const char *line);
int tt_bench_main(void);
int main(void);

void tt_print(const char *line)
{
    puts(line);
}

int main(void)
{
    return tt_bench_main();
}
