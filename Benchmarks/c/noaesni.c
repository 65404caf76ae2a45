/*
 * noaesni.c - LD_PRELOAD shim: mbedTLS believes the CPU has no AES-NI and
 * no PCLMULQDQ, so AES and GHASH take the portable C paths (the code a
 * Cortex-M4 runs). mbedTLS 2.28 asks mbedtls_aesni_has_support() before
 * every block and GHASH multiplication; libmbedcrypto.so calls it through
 * the PLT, so this definition wins. run.sh checks that it took effect (the
 * instruction count must change).
 */
int mbedtls_aesni_has_support(unsigned int what);

int mbedtls_aesni_has_support(unsigned int what)
{
    (void)what;
    return 0;
}
