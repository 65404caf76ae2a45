/*
 * ct_cases.h - the constant-time check's cases. Each runs one operation with
 * its secrets marked (ct_secret.h) and returns 0 when the operation itself
 * behaved (results checked only after declassifying them), 1 otherwise.
 * Whether it is constant-time is memcheck's verdict, read by
 * scripts/ct-check.sh against Tests/CT/expected-findings.txt.
 */
#ifndef CT_CASES_H
#define CT_CASES_H

/* Negative controls: must be flagged, proving the method sees leaks. */
int ct_control_memcmp(void);
int ct_control_table_index(void);

/* Primitives (ct_primitives.c). */
int ct_compare(void);
int ct_sha256(void);
int ct_hmac(void);
int ct_hkdf(void);
int ct_pair_derive(void);
int ct_session_kdf(void);
int ct_aead_seal(void);
int ct_aead_open(void);

/* The key store (ct_keystore.c). */
int ct_keystore_write(void);
int ct_keystore_boot(void);

/* Whole sessions (ct_session.c). */
int ct_session_handshake(void);
int ct_session_messages(void);

#endif /* CT_CASES_H */
