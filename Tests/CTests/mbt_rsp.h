/*
 * mbt_rsp.h - reader for NIST CAVP .rsp and RFC 5869 vector files
 * ("Key = hex" lines grouped into records, "[Name = value]" section headers,
 * a bare "FAIL" line marking an expected authentication failure).
 * Test-only: uses stdio and fixed-size buffers.
 */
#ifndef MBT_RSP_H
#define MBT_RSP_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MBT_RSP_FIELDS   12
#define MBT_RSP_VALUE    1200

typedef struct mbt_rsp_record {
    char names[MBT_RSP_FIELDS][24];
    char values[MBT_RSP_FIELDS][MBT_RSP_VALUE];
    int  count;
    int  fail;                       /* a "FAIL" line was present */
    char section[MBT_RSP_FIELDS][2][24]; /* [name, value] of the current [..] headers */
    int  section_count;
} mbt_rsp_record;

static inline char *mbt_trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s)) s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = '\0';
    return s;
}

/* Copy with truncation to cap-1 bytes, always terminated. */
static inline void mbt_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static inline const char *mbt_rsp_get(const mbt_rsp_record *r, const char *name)
{
    int i;
    for (i = 0; i < r->count; i++) {
        if (strcmp(r->names[i], name) == 0) return r->values[i];
    }
    return NULL;
}

static inline const char *mbt_rsp_section(const mbt_rsp_record *r, const char *name)
{
    int i;
    for (i = 0; i < r->section_count; i++) {
        if (strcmp(r->section[i][0], name) == 0) return r->section[i][1];
    }
    return NULL;
}

static inline void mbt_rsp_set_section(mbt_rsp_record *r, char *line)
{
    char *eq = strchr(line, '='), *close = strchr(line, ']');
    char *name, *value;
    int i;
    if (eq == NULL || close == NULL) return;
    *eq = '\0'; *close = '\0';
    name = mbt_trim(line + 1); value = mbt_trim(eq + 1);
    for (i = 0; i < r->section_count; i++) {
        if (strcmp(r->section[i][0], name) == 0) break;
    }
    if (i == r->section_count) {
        if (r->section_count == MBT_RSP_FIELDS) return;
        r->section_count++;
    }
    mbt_copy(r->section[i][0], sizeof(r->section[i][0]), name);
    mbt_copy(r->section[i][1], sizeof(r->section[i][1]), value);
}

/* Start reading a file: clears sections and fields. */
static inline void mbt_rsp_init(mbt_rsp_record *r)
{
    memset(r, 0, sizeof(*r));
}

/* Read the next record: it starts at a line whose name is `first_field`
 * ("Count" / "COUNT") and ends where the next record or a "[..]" section
 * header begins, or at end of file (blank lines inside a record are
 * allowed). Returns 1 when a record was read, 0 at end of file. */
static inline int mbt_rsp_next(FILE *f, mbt_rsp_record *r, const char *first_field)
{
    static char line[4096], raw[4096];
    static int pending;   /* `raw` holds the first line of the next record */
    int in_record = 0;

    r->count = 0;
    r->fail = 0;
    while (pending || fgets(raw, sizeof(raw), f) != NULL) {
        char *s, *eq, *name;
        memcpy(line, raw, sizeof(line));
        s = mbt_trim(line);
        pending = 0;
        if (*s == '#' || *s == '\0') continue;
        if (strcmp(s, "FAIL") == 0) { r->fail = 1; continue; }
        eq = strchr(s, '=');
        name = s;
        if (eq != NULL) { *eq = '\0'; name = mbt_trim(s); }
        if (in_record && (*s == '[' || strcmp(name, first_field) == 0)) {
            pending = 1;              /* re-read `raw` on the next call */
            return 1;
        }
        if (*s == '[') {
            memcpy(line, raw, sizeof(line));
            mbt_rsp_set_section(r, mbt_trim(line));
            continue;
        }
        if (eq == NULL) continue;
        if (strcmp(name, first_field) == 0) in_record = 1;
        if (!in_record || r->count == MBT_RSP_FIELDS) continue;
        mbt_copy(r->names[r->count], sizeof(r->names[0]), name);
        mbt_copy(r->values[r->count], sizeof(r->values[0]), mbt_trim(eq + 1));
        r->count++;
    }
    return in_record;
}

/* Open $MB_VECTORS_DIR/<rel>; prints a clear reason and returns NULL if absent. */
static inline FILE *mbt_open_vectors(const char *rel)
{
    const char *dir = getenv("MB_VECTORS_DIR");
    char path[1024];
    FILE *f;
    if (dir == NULL || *dir == '\0') {
        fprintf(stderr, "MB_VECTORS_DIR is not set: install PyPI's cryptography-vectors "
                        "(scripts/bootstrap.sh does) or point it at the package directory\n");
        return NULL;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    f = fopen(path, "r");
    if (f == NULL) fprintf(stderr, "cannot open vector file %s\n", path);
    return f;
}

#endif /* MBT_RSP_H */
