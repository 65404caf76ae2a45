/* test_errors.c - every MB_ERR_* code is named, and names are distinct. */
#include "mbt.h"

#include "modbatt/modbatt.h"

static void every_code_named(void)
{
    int code, other;
    MBT_CHECK(strcmp(mb_strerror(MB_OK), "success") == 0);
    for (code = -1; code >= MB_ERR_MIN; code--) {
        const char *name = mb_strerror(code);
        MBT_CHECK(name != NULL && strcmp(name, "unknown error") != 0);
        for (other = code - 1; other >= MB_ERR_MIN; other--) {
            MBT_CHECK(strcmp(name, mb_strerror(other)) != 0);
        }
    }
    MBT_CHECK(strcmp(mb_strerror(MB_ERR_MIN - 1), "unknown error") == 0);
    MBT_CHECK(strcmp(mb_strerror(1), "unknown error") == 0);
}

int main(void)
{
    MBT_RUN(every_code_named);
    return mbt_finish("test_errors");
}
