/*
 * tt_insn_plugin.c - QEMU TCG plugin: executed Thumb-2 instructions of the
 * Cortex-M4 benchmark image, per measured region, weighted by the
 * Cortex-M4 Technical Reference Manual's cycle table (ARM DDI 0439,
 * section 3.3.1, "Cortex-M4 instruction set summary").
 *
 *   qemu-system-arm -M mps2-an386 ... -d plugin -D LOG \
 *     -plugin tt_insn_plugin.so,begin=0xADDR,end=0xADDR,rodata=0xADDR:0xADDR \
 *     -kernel bench.elf
 *
 * begin/end are the addresses of tt_mark_begin()/tt_mark_end()
 * (Tests/Targets/common/tt_bench.c). Between them every executed
 * instruction is counted; at each end one line goes to the log:
 *
 *   tt-region insns=N base=B refills=R flash_loads=F divs=D
 *
 * base: cycles from the TRM table without pipeline refills - data
 *   processing, multiply and multiply-accumulate (also the 64-bit forms) 1;
 *   LDR/STR (byte, halfword, word, exclusive) 2, or 1 when the previous
 *   instruction was also a single load or store (the TRM's pipelining
 *   note); LDRD/STRD 3; LDM/STM/PUSH/POP 1 + registers; TBB/TBH 2; IT 1
 *   (the TRM allows 0 when folded); SDIV/UDIV 12 (the TRM's 2..12, at
 *   the worst; counted in divs too).
 * refills: taken branches and other writes to the PC (the TRM's P, 1..3
 *   cycles each; the report applies P and the flash wait states).
 * flash_loads: loads from the image's read-only data (plugin argument
 *   rodata=START:END, from the linker script's __rodata_start/__rodata_end),
 *   which a device keeps in flash: mbedTLS's AES tables in ROM, SHA-256's
 *   constants, GCM's reduction table. Literal-pool loads (PC-relative, in
 *   the code) are not counted.
 *
 * QEMU 7.2 (Debian 12) runs plugins but does not ship qemu-plugin.h; the
 * few declarations this file needs are written out below (plugin API
 * version 1, unchanged in these calls up to QEMU 8).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the subset of QEMU's plugin API used here ---------------------------- */
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct {
    const char *target_name;
    struct { int min; int cur; } version;
    bool system_emulation;
    union { struct { int smp_vcpus; int max_vcpus; } system; };
} qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                                          uint64_t vaddr, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
void qemu_plugin_outs(const char *string);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;
__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ---- classification --------------------------------------------------------- */
enum { K_ALU, K_LDST, K_DIV, K_OTHER };

typedef struct insn_info {
    uint64_t vaddr;
    uint32_t size;
    uint8_t  base;      /* cycles without refill */
    uint8_t  kind;      /* K_* */
    uint8_t  branch;    /* may change the flow: B, BL, BX, CBZ, TBB, POP {pc}, ... */
    uint8_t  mark;      /* 1 begin, 2 end */
} insn_info;

static uint64_t mark_begin, mark_end, rodata_start, rodata_end;
static bool active;
static uint64_t n_insns, n_base, n_refills, n_flash, n_divs;
static const insn_info *prev;

static int starts(const char *m, const char *p) { return strncmp(m, p, strlen(p)) == 0; }

/* Registers in a list "{r4, r5, lr}" (ranges "r4-r7" counted out). */
static int reglist(const char *ops, bool *has_pc)
{
    const char *p = strchr(ops, '{');
    int n = 0;
    *has_pc = strstr(ops, "pc") != NULL;
    if (p == NULL) {
        return 1;
    }
    for (p++; *p && *p != '}'; ) {
        int a, b;
        while (*p == ' ' || *p == ',') p++;
        if (*p == 'r' && sscanf(p, "r%d-r%d", &a, &b) == 2) { n += b - a + 1; }
        else if (*p && *p != '}') { n++; }
        while (*p && *p != ',' && *p != '}') p++;
    }
    return n > 0 ? n : 1;
}

static void classify(const char *dis, insn_info *ii)
{
    char m[16] = "";
    const char *ops;
    bool has_pc = false;
    size_t k = 0;
    while (*dis == ' ') dis++;
    while (dis[k] && !isspace((unsigned char)dis[k]) && k < sizeof(m) - 1) { m[k] = dis[k]; k++; }
    m[k] = '\0';
    ops = dis + k;
    /* strip the width qualifier ".w"/".n" */
    { char *dot = strchr(m, '.'); if (dot) *dot = '\0'; }
    ii->kind = K_ALU; ii->base = 1; ii->branch = 0;
    if (starts(m, "udiv") || starts(m, "sdiv")) {
        ii->kind = K_DIV; ii->base = 12;
    } else if (starts(m, "ldrd") || starts(m, "strd")) {
        ii->kind = K_OTHER; ii->base = 3;
    } else if (starts(m, "ldm") || starts(m, "stm") || starts(m, "push") || starts(m, "pop")) {
        ii->kind = K_OTHER;
        ii->base = (uint8_t)(1 + reglist(ops, &has_pc));
        ii->branch = (uint8_t)((starts(m, "pop") || starts(m, "ldm")) && has_pc);
    } else if (starts(m, "ldr") || starts(m, "str")) {
        ii->kind = K_LDST; ii->base = 2;
        /* "ldr pc, ..." writes the PC */
        while (*ops == ' ') ops++;
        ii->branch = (uint8_t)(starts(m, "ldr") && starts(ops, "pc"));
    } else if (starts(m, "tbb") || starts(m, "tbh")) {
        ii->kind = K_OTHER; ii->base = 2; ii->branch = 1;
    } else if (m[0] == 'b' && (m[1] == '\0' || starts(m, "bl") || starts(m, "bx") ||
                               (strlen(m) == 3 && strchr("ceghlmnpv", m[1]) != NULL))) {
        /* b, bl, blx, bx, b<cond> (beq bne bcs bcc bmi bpl bvs bvc bhi bls bge blt bgt ble bal);
         * not bic/bfi/bfc */
        if (!starts(m, "bic") && !starts(m, "bfi") && !starts(m, "bfc") && !starts(m, "bkpt")) {
            ii->kind = K_OTHER; ii->base = 1; ii->branch = 1;
        }
    } else if (starts(m, "cbz") || starts(m, "cbnz")) {
        ii->kind = K_OTHER; ii->base = 1; ii->branch = 1;
    } else {
        /* mov pc / add pc: a PC write */
        while (*ops == ' ') ops++;
        if ((starts(m, "mov") || starts(m, "add")) && starts(ops, "pc")) {
            ii->branch = 1;
        }
    }
}

/* ---- execution --------------------------------------------------------------- */
static void on_exec(unsigned int vcpu, void *ud)
{
    const insn_info *ii = (const insn_info *)ud;
    (void)vcpu;
    if (ii->mark == 1) {
        active = true;
        n_insns = n_base = n_refills = n_flash = n_divs = 0;
        prev = NULL;
    } else if (ii->mark == 2 && active) {
        char line[160];
        if (prev != NULL && prev->branch && prev->vaddr + prev->size != ii->vaddr) {
            n_refills++;
        }
        snprintf(line, sizeof(line), "tt-region insns=%" PRIu64 " base=%" PRIu64 " refills=%" PRIu64
                 " flash_loads=%" PRIu64 " divs=%" PRIu64 "\n", n_insns, n_base, n_refills, n_flash, n_divs);
        qemu_plugin_outs(line);
        active = false;
        return;
    }
    if (!active) {
        return;
    }
    if (prev != NULL && prev->branch && prev->vaddr + prev->size != ii->vaddr) {
        n_refills++;
    }
    n_insns++;
    n_base += (ii->kind == K_LDST && prev != NULL && prev->kind == K_LDST) ? 1u : ii->base;
    n_divs += ii->kind == K_DIV;
    prev = ii;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *ud)
{
    (void)vcpu; (void)info; (void)ud;
    if (active && !qemu_plugin_mem_is_store(info) && vaddr >= rodata_start && vaddr < rodata_end) {
        n_flash++;
    }
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t i, n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        /* One record per translation; translations of the image are few and
         * live as long as QEMU, so they are never freed. */
        insn_info *ii = calloc(1, sizeof(*ii));
        char *dis = qemu_plugin_insn_disas(insn);
        if (ii == NULL) {
            abort();
        }
        ii->vaddr = qemu_plugin_insn_vaddr(insn);
        ii->size = (uint32_t)qemu_plugin_insn_size(insn);
        classify(dis != NULL ? dis : "", ii);
        if (getenv("TT_PLUGIN_DISAS") != NULL) {
            char line[128];
            snprintf(line, sizeof(line), "dis %08" PRIx64 " [%s] base=%u branch=%u\n", ii->vaddr,
                     dis ? dis : "", ii->base, ii->branch);
            qemu_plugin_outs(line);
        }
        free(dis);
        ii->mark = ii->vaddr == mark_begin ? 1 : ii->vaddr == mark_end ? 2 : 0;
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_exec, QEMU_PLUGIN_CB_NO_REGS, ii);
        /* QEMU 7.2 reports only stores for QEMU_PLUGIN_MEM_R: ask for both
         * and keep the loads. */
        if (ii->kind == K_LDST || ii->base > 1) {
            qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
        }
    }
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        if (strncmp(argv[i], "begin=", 6) == 0) mark_begin = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        if (strncmp(argv[i], "end=", 4) == 0) mark_end = strtoull(argv[i] + 4, NULL, 0) & ~1ull;
        if (strncmp(argv[i], "rodata=", 7) == 0) {
            char *colon;
            rodata_start = strtoull(argv[i] + 7, &colon, 0);
            rodata_end = *colon == ':' ? strtoull(colon + 1, NULL, 0) : 0;
        }
    }
    if (mark_begin == 0 || mark_end == 0) {
        fprintf(stderr, "tt_insn_plugin: begin= and end= addresses are required\n");
        return 1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    return 0;
}
