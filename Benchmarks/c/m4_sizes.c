/*
 * m4_sizes.c - sizeof() of the core's structs as the Cortex-M4 compiler
 * lays them out. Each array below has the size of one struct; run.sh reads
 * the sizes with `arm-none-eabi-nm -S` (nothing here is ever run).
 */
#include "mbedtls/aes.h"
#include "modbatt/modbatt.h"

char sizeof_mb_session[sizeof(mb_session)];
char sizeof_mb_aead[sizeof(mb_aead)];
char sizeof_mb_replay[sizeof(mb_replay)];
char sizeof_mb_reasm[sizeof(mb_reasm)];
char sizeof_mb_nonce[sizeof(mb_nonce)];
char sizeof_mb_rx_epoch[sizeof(mb_rx_epoch)];
char sizeof_mb_session_msg[sizeof(mb_session_msg)];
char sizeof_mb_pair_keys[sizeof(mb_pair_keys)];
char sizeof_mb_hmac[sizeof(mb_hmac)];
char sizeof_mbedtls_gcm_context[sizeof(mbedtls_gcm_context)];
char sizeof_mbedtls_aes_context[sizeof(mbedtls_aes_context)];
