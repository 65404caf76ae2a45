/*
 * mbedtls_config_avr.h - the firmware configuration for 8-bit AVR.
 *
 * CSources/config/mbedtls_config_fw.h, less the static buffer allocator:
 * mbedTLS 2.28's memory_buffer_alloc.c stores its 32-bit header magic
 * numbers (0xFF00AA55, 0xEE119966) in size_t fields, which are 16 bits on
 * AVR, so its own integrity check fails on the first free and it halts
 * through mbedtls_exit(). On AVR mbedTLS allocates through
 * mbedtls_platform_set_calloc_free() instead (avr-libc's calloc/free on a
 * bounded heap: Tests/Targets/common/tt_pool.c).
 */
#ifndef MODBATT_MBEDTLS_CONFIG_AVR_H
#define MODBATT_MBEDTLS_CONFIG_AVR_H
#include "mbedtls_config_fw.h"
#undef MBEDTLS_MEMORY_BUFFER_ALLOC_C
#endif
