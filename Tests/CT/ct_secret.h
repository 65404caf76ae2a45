/*
 * ct_secret.h - ctgrind-style secret marking for the constant-time check.
 *
 * Under valgrind's memcheck, bytes marked "undefined" are tracked through
 * every computation; memcheck then reports each conditional jump and each
 * memory address that depends on them. Marking secrets undefined therefore
 * turns "does any branch or table index depend on a secret?" into
 * memcheck's ordinary uninitialised-value reports (A. Langley, ctgrind).
 *
 * Declassify a value (mark it defined) where it becomes public by design:
 * a frame once it is on the bus, or the accept/reject verdict a caller acts
 * on. Outside valgrind these macros cost nothing.
 */
#ifndef CT_SECRET_H
#define CT_SECRET_H

#include <valgrind/memcheck.h>

#define CT_SECRET(ptr, len)  ((void)VALGRIND_MAKE_MEM_UNDEFINED((ptr), (len)))
#define CT_PUBLIC(ptr, len)  ((void)VALGRIND_MAKE_MEM_DEFINED((ptr), (len)))

/* An int result the caller branches on: make it public before the branch. */
static inline int ct_declassify_int(int v)
{
    CT_PUBLIC(&v, sizeof(v));
    return v;
}

#endif /* CT_SECRET_H */
