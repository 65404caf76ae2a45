/*
 * session.pml - Promela model of the Modbatt session protocol, version 2:
 * the three-message handshake with the authenticated, counted HELLO
 * (docs/PROTOCOL.md 6, 6.5), sealed messages and
 * the replay window (7), key rotation by epochs with a grace period (8),
 * failure-driven resynchronisation (9) and device restarts, against an
 * attacker on the bus (bounded: drop, duplicate, reorder, replay, forge,
 * reboot) and a HELLO injector that never stops (forged HELLOs, replays of
 * every genuine HELLO ever sent). It follows the C core: CSources/mb_session.c,
 * mb_session_hs.c, mb_session_epoch.c, mb_replay.c, mb_nonce.c. Every
 * inline below names the C function it stands for. What is abstracted and
 * why: docs/security/MODEL.md. Run everything: scripts/model-check.sh.
 *
 * Sides: 0 = controller, 1 = device. Messages travel as whole wire
 * messages (segmentation and reassembly are below this model), on two
 * bounded channels: chan bus[X] carries what side X sent to its peer.
 *
 * Cryptography is symbolic:
 *  - a nonce (N_I, N_R) is a small number, fresh from `nonce_next`
 *    (the platform RNG never repeats); 0 is the attacker's own nonce;
 *  - the session keys SK = HKDF(N_I || N_R, PS, .. initiator role) are a
 *    "session id" sid, a row of the table s_ni/s_nr/s_init; two sides hold
 *    the same keys exactly when they hold the same sid;
 *  - a HELLO's MAC_H, a REPLY/FINISH MAC or an AEAD tag is a `valid` bit: only the two
 *    honest sides (who hold PS) produce valid ones, and a MAC verifies only
 *    over the exact inputs it was computed on (sid, initiator role);
 *  - an epoch key and its fixed field are (sid, direction, epoch).
 *
 * Bounds (-D to change): NN nonces, EMAX last epoch, CMAX messages per
 * epoch (= rekey_after_msgs), CAP messages in flight per direction,
 * RESYNC_AFTER failures before a resync, BUDGET attacker actions,
 * RESERVE nonces kept for after the attack.
 *
 * Broken variants (each must make a check fail; scripts/model-check.sh):
 *  -DBROKEN_NO_REPLAY_CHECK   receiver skips mb_replay_check (epoch.c)
 *  -DBROKEN_NO_FINISH_CHECK   responder installs without checking MAC_I (hs.c)
 *  -DBROKEN_RNG_REPEATS       the device's RNG restarts its sequence at boot
 *  -DBROKEN_NO_RESYNC         resync_after = 0 (resynchronisation disabled)
 *  -DBROKEN_HELLO_ANY         protocol v1: every HELLO is answered (no MAC_H,
 *                             no counter) and resets the handshake in progress
 *  -DBROKEN_HELLO_REPLAY      MAC_H checked, the counter not: replays answered
 */

#ifndef NN
#define NN 6            /* honest nonces 1..NN */
#endif
#ifndef EMAX
#define EMAX 1          /* epochs 0..EMAX; EMAX stands for UINT32_MAX */
#endif
#ifndef CMAX
#define CMAX 2          /* counters 0..CMAX-1 per epoch: rekey_after_msgs */
#endif
#ifndef CAP
#define CAP 2
#endif
#ifndef RESYNC_AFTER
#define RESYNC_AFTER 2
#endif
#ifndef BUDGET
#define BUDGET 3
#endif
#ifndef RESERVE
#define RESERVE 0
#endif
#ifdef BROKEN_NO_RESYNC
#undef RESYNC_AFTER
#define RESYNC_AFTER 0
#endif

/* The safety properties, one assertion each; -DNO_CHECK_<name> turns one
 * off (to let a broken variant run on to the next one). */
#ifdef NO_CHECK_REOPEN
#define check_reopen(c) skip
#else
#define check_reopen(c) assert(c)
#endif
#define check_nonce(c)   assert(c)
#define check_confirm(c) assert(c)
#define check_replay(c)  assert(c)
/* -DNO_GHOST (liveness runs): keep no history, check no safety property. */
#ifdef NO_GHOST
#define ghost(stmt) skip
#undef check_reopen
#define check_reopen(c) skip
#undef check_nonce
#define check_nonce(c) skip
#undef check_confirm
#define check_confirm(c) skip
#undef check_replay
#define check_replay(c) skip
#else
#define ghost(stmt) stmt
#endif

/* Liveness runs (-DNO_GHOST) must not run out of counters, which the real
 * code never does (2^32 epochs of up to 2^32 messages): there counter TOPC
 * stands for "some counter never used before"; the replay window does not
 * record it, and the last epoch does not end. */
#ifdef NO_GHOST
#define TOPC CMAX
#define fresh(c) ((c) == TOPC)
#else
#define fresh(c) 0
#endif

#define SMAX (NN + 1)   /* session ids 1..NN (one per responder nonce); 0 = none */
#define NEP  (EMAX + 1)
#define CTL 0
#define DEV 1
#define IDLE 0          /* MBS_HS_IDLE */
#define WAIT_REPLY 1    /* MBS_HS_WAIT_REPLY */
#define WAIT_FINISH 2   /* MBS_HS_WAIT_FINISH */

/* HELLO a=N_I c=counter v=MAC_H ok; REPLY b=sid (N_R with the MAC over N_I), v=MAC ok;
 * FINISH b=sid, v=MAC ok; DATA/SEC a=sid b=epoch c=counter (v=1, sealed
 * by an honest side); GARB = anything whose tag does not verify. */
mtype = { HELLO, REPLY, FINISH, DATA, SEC, GARB };

chan bus[2] = [CAP] of { mtype, byte, byte, byte, bit };

/* ---- the session state of each side (struct mb_session) ---- */
bit  est[2];                 /* established */
byte hs[2];                  /* hs.state */
byte hs_ni[2];               /* hs.n_i */
byte hs_sid[2];              /* responder: keys of the expected FINISH (n_r, expect) */
byte tx_sid[2], tx_ep[2], tx_ctr[2];         /* tx keys, tx_epoch, tx_nonce.next */
bit  cur_ok[2];  byte cur_sid[2], cur_ep[2], cur_win[2];   /* rx_cur, window bitmap */
bit  prev_ok[2]; byte prev_sid[2], prev_ep[2], prev_win[2]; /* rx_prev */
byte fail[2];                /* fail_run */
bit  exhausted[2];           /* the app saw MB_ERR_NONCE_EXHAUSTED */
byte hctr[2];                /* hs.tx_counter: last HELLO counter sent; survives
                                reboots (hello_counter_base = persisted boot count << 32) */
byte rxc[2];                 /* hs.rx_counter: newest counter answered (0: none); RAM only */

/* ---- the world ---- */
byte nonce_next = 1;         /* the RNG: next fresh value */
byte s_ni[SMAX], s_nr[SMAX]; /* sid -> (N_I, N_R, initiator role) */
bit  s_init[SMAX];
byte s_next = 1;
byte budget = BUDGET;
bit  quiet;                  /* the bounded attacker stopped for good */
/* The injector's recordings: every genuine HELLO ever sent, by its nonce
 * (a HELLO's N_I is a fresh draw): the sender + 1 (0: none) and counter. */
byte h_from[NN + 1], h_ctr[NN + 1];
#ifdef BROKEN_RNG_REPEATS
byte dev_draws;              /* draws since the device booted */
byte dev_seq[NN];            /* what its RNG returns after each boot */
#endif

/* ---- ghost state: what happened, never read by the sides ---- */
byte used[SMAX * 2 * NEP];       /* counters sealed under (sid, sender, epoch) */
byte sec_sent[SMAX * 2 * NEP];   /* ... of which rekey requests */
byte delivered[SMAX * 2 * NEP];  /* counters delivered from (sid, sender, epoch) */
byte rx_opened[2 * SMAX];        /* epochs ever made current rx, per side and sid */
byte tx_opened[2 * SMAX];        /* epochs ever made current tx, per side and sid */
bit  conf_i[SMAX];               /* initiator verified MAC_R of sid and sent FINISH */

#define KEY(s, dir, e) (((s) * 2 + (dir)) * NEP + (e))
#define SIDE(x, s)     ((x) * SMAX + (s))
#define BIT(n)         (1 << (n))
#define can_draw       (nonce_next <= NN - (quiet -> 0 : RESERVE))
/* A handshake message that can still end side x's wait is in flight:
 * x's HELLO/REPLY on its way, or the REPLY (with a MAC that can verify) or
 * FINISH it waits for, or (device) the controller's HELLO, which wins. */
#define awaited_in_flight(x) \
    ((hs[x] == WAIT_REPLY && (bus[x]??[HELLO,_,_,_,_] || bus[1 - x]??[REPLY,_,_,_,1] || \
                             (x == DEV && bus[1 - x]??[HELLO,_,_,_,1]))) || \
     (hs[x] == WAIT_FINISH && (bus[x]??[REPLY,_,_,_,_] || bus[1 - x]??[FINISH,_,_,_,_])))
/* Recovered: both established, each receiving on the epoch the other sends on. */
#define synced (est[0] && est[1] && cur_ok[0] && cur_ok[1] && \
                tx_sid[0] == cur_sid[1] && tx_ep[0] == cur_ep[1] && \
                tx_sid[1] == cur_sid[0] && tx_ep[1] == cur_ep[0])

/* platform RNG (cfg.rng) */
inline draw(me, out) {
#ifdef BROKEN_RNG_REPEATS
    if
    :: me == DEV ->
        if
        :: dev_seq[dev_draws] == 0 -> dev_seq[dev_draws] = nonce_next; nonce_next++
        :: else -> skip
        fi;
        out = dev_seq[dev_draws]; dev_draws++
    :: else -> out = nonce_next; nonce_next++
    fi
#else
    out = nonce_next; nonce_next++
#endif
}

/* hs_reset() */
inline hs_reset(me) {
    hs[me] = IDLE; hs_ni[me] = 0; hs_sid[me] = 0
}

/* mbs_hs_start(): draw N_I, count the HELLO (spent even if the send
 * fails), send HELLO; a failed tx resets. The injector records it, even
 * one the transmit queue refused: a little more than a real eavesdropper
 * gets, so every check holds against a stronger attacker. */
inline hs_start(me) {
    hs_reset(me);
    draw(me, hs_ni[me]);
    hctr[me]++;
    ghost(h_from[hs_ni[me]] = me + 1); ghost(h_ctr[hs_ni[me]] = hctr[me]);
    if
    :: nfull(bus[me]) -> bus[me]!HELLO(hs_ni[me], 0, hctr[me], 1); hs[me] = WAIT_REPLY
    :: full(bus[me]) -> hs_reset(me)
    fi
}

/* tx_set() for epoch e of sid: fresh key, counter 0. */
inline tx_set(me, s, e) {
    check_reopen(!(tx_opened[SIDE(me, s)] & BIT(e)));   /* never an epoch twice */
    ghost(tx_opened[SIDE(me, s)] = tx_opened[SIDE(me, s)] | BIT(e));
    tx_sid[me] = s; tx_ep[me] = e; tx_ctr[me] = 0
}

/* rx_set(): the current epoch becomes the previous one (grace), then
 * (s, e) with an empty replay window becomes current. */
inline rx_set(me, s, e) {
    check_reopen(!(rx_opened[SIDE(me, s)] & BIT(e)));   /* an old epoch never re-opens */
    ghost(rx_opened[SIDE(me, s)] = rx_opened[SIDE(me, s)] | BIT(e));
    prev_ok[me] = cur_ok[me]; prev_sid[me] = cur_sid[me];
    prev_ep[me] = cur_ep[me]; prev_win[me] = cur_win[me];
    cur_ok[me] = 1; cur_sid[me] = s; cur_ep[me] = e; cur_win[me] = 0
}

/* mbs_install(): epoch 0 of both directions of sid, established. */
inline install(me, s) {
    tx_set(me, s, 0);
    rx_set(me, s, 0);
    est[me] = 1; fail[me] = 0; exhausted[me] = 0
}

/* mbs_tx_rotate(): never an unused epoch; NONCE_EXHAUSTED at the last. */
inline tx_rotate(me) {
    if
    :: tx_ctr[me] == 0 -> skip
#ifdef NO_GHOST
    :: tx_ctr[me] > 0 && tx_ep[me] == EMAX -> tx_ctr[me] = TOPC   /* see TOPC */
#else
    :: tx_ctr[me] > 0 && tx_ep[me] == EMAX -> exhausted[me] = 1
#endif
    :: tx_ctr[me] > 0 && tx_ep[me] < EMAX -> tx_set(me, tx_sid[me], tx_ep[me] + 1)
    fi
}

/* seal_and_send(): mb_nonce_next, AEAD, queue; the counter is spent even
 * when the queue refuses the frames. */
inline seal(me, kind) {
    check_nonce(!(used[KEY(tx_sid[me], me, tx_ep[me])] & BIT(tx_ctr[me])));  /* nonce reuse */
    ghost(used[KEY(tx_sid[me], me, tx_ep[me])] = used[KEY(tx_sid[me], me, tx_ep[me])] | BIT(tx_ctr[me]));
    if
    :: kind == SEC ->
        ghost(sec_sent[KEY(tx_sid[me], me, tx_ep[me])] = sec_sent[KEY(tx_sid[me], me, tx_ep[me])] | BIT(tx_ctr[me]))
    :: else -> skip
    fi;
    if
    :: nfull(bus[me]) -> bus[me]!kind(tx_sid[me], tx_ep[me], tx_ctr[me], 1)
    :: full(bus[me]) -> skip
    fi;
#ifdef NO_GHOST
    if :: tx_ctr[me] < TOPC -> tx_ctr[me]++ :: else -> skip fi
#else
    tx_ctr[me]++
#endif
}

/* note_failure(): AUTH, EPOCH and STATE failures in a row start a resync
 * when no handshake runs (rate limits abstracted: they only postpone). */
inline note_failure(me) {
    if
    :: fail[me] < 255 -> fail[me]++
    :: else -> skip
    fi;
    if
    :: RESYNC_AFTER > 0 && fail[me] >= RESYNC_AFTER && hs[me] == IDLE && can_draw ->
        hs_start(me);
        if
        :: hs[me] == WAIT_REPLY -> fail[me] = 0
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* The responder's acceptance rule (on_hello, protocol v2): MAC_H verifies
 * and the counter is above the newest one answered. A HELLO that fails it
 * changes nothing at all (MB_ERR_AUTH, MB_ERR_REPLAY). */
#if defined(BROKEN_HELLO_ANY)
#define hello_ok(me, hc, ok) 1
#elif defined(BROKEN_HELLO_REPLAY)
#define hello_ok(me, hc, ok) (ok)
#else
#define hello_ok(me, hc, ok) ((ok) && (hc) > rxc[me])
#endif
/* Liveness runs only (-DNO_GHOST): a HELLO whose N_I the peer is not
 * waiting for right now (forged, or a replay) can never lead to a REPLY
 * the peer accepts, since N_I values are never drawn twice: its answer
 * takes no nonce and sends a REPLY whose MAC cannot verify anywhere, with
 * sid 0 ("keys nobody can confirm"). Same behaviour, fewer nonces: the
 * attacker cannot end a run by exhausting the model's RNG. */
#ifdef NO_GHOST
#define dead_end(me, ni) (!(hs[1 - me] == WAIT_REPLY && hs_ni[1 - me] == (ni)))
#else
#define dead_end(me, ni) 0
#endif

/* on_hello() and answer_hello(): refuse a HELLO that fails the rule
 * above; the controller waiting for its REPLY ignores the device's HELLO;
 * otherwise record the counter, abandon any handshake, draw N_R, derive
 * the keys, send REPLY, wait for FINISH. Established keys stay. */
inline on_hello(me, ni, hc, ok) {
    if
    :: !hello_ok(me, hc, ok) -> skip                            /* AUTH, REPLAY */
    :: hello_ok(me, hc, ok) && hs[me] == WAIT_REPLY && me == CTL -> skip   /* MB_ERR_STATE */
    :: hello_ok(me, hc, ok) && !(hs[me] == WAIT_REPLY && me == CTL) && dead_end(me, ni) ->
        rxc[me] = hc;
        hs_reset(me);
        if
        :: nfull(bus[me]) -> bus[me]!REPLY(0, 0, 0, 0); hs[me] = WAIT_FINISH
        :: full(bus[me]) -> hs_reset(me)
        fi
    :: hello_ok(me, hc, ok) && !(hs[me] == WAIT_REPLY && me == CTL) && !dead_end(me, ni) ->
        if
        :: !can_draw -> skip                                    /* as MB_ERR_RATE_LIMITED */
        :: else ->
            rxc[me] = hc;
            hs_reset(me);             /* hs.n_i = N_I: kept as the row of hs_sid */
            draw(me, nr);
            /* mbs_hs_keys(): the sid of (N_I, N_R, initiator = peer) */
            s = 1;
            do
            :: s < s_next && !(s_ni[s] == ni && s_nr[s] == nr && s_init[s] == 1 - me) -> s++
            :: else -> break
            od;
            if
            :: s == s_next -> s_ni[s] = ni; s_nr[s] = nr; s_init[s] = 1 - me; s_next++
            :: else -> skip
            fi;
            if
            :: nfull(bus[me]) -> bus[me]!REPLY(0, s, 0, 1); hs[me] = WAIT_FINISH; hs_sid[me] = s
            :: full(bus[me]) -> hs_reset(me)
            fi
        fi
    fi
}

/* on_reply(): MAC_R must verify over our own N_I with us as initiator;
 * send FINISH, and install only if it was queued. */
inline on_reply(me, rs, ok) {
    if
    :: hs[me] != WAIT_REPLY -> skip                             /* MB_ERR_STATE */
    :: hs[me] == WAIT_REPLY && !(ok && s_ni[rs] == hs_ni[me] && s_init[rs] == me) -> skip  /* AUTH */
    :: hs[me] == WAIT_REPLY && ok && s_ni[rs] == hs_ni[me] && s_init[rs] == me ->
        if
        :: nfull(bus[me]) ->
            bus[me]!FINISH(0, rs, 0, 1);
            conf_i[rs] = 1;
            hs_reset(me);
            install(me, rs)
        :: full(bus[me]) -> skip                                /* hs_fail, stay */
        fi
    fi
}

/* on_finish(): MAC_I must equal the expected one (same sid). */
inline on_finish(me, rs, ok) {
    if
    :: hs[me] != WAIT_FINISH -> skip                            /* MB_ERR_STATE */
#ifdef BROKEN_NO_FINISH_CHECK
    :: hs[me] == WAIT_FINISH ->
#else
    :: hs[me] == WAIT_FINISH && !(ok && rs == hs_sid[me]) -> skip   /* MB_ERR_AUTH */
    :: hs[me] == WAIT_FINISH && ok && rs == hs_sid[me] ->
#endif
        s = hs_sid[me];
        /* key confirmation: the initiator verified MAC_R for these keys */
        check_confirm(conf_i[s]);
        hs_reset(me);
        install(me, s)
    fi
}

/* mbs_rx_open() for a sealed message (sid, epoch, counter) of the peer,
 * then dispatch(): deliver, or run a rekey request (on_security). */
inline on_sealed(me, ms, me_, mc, kind) {
    if
    :: !cur_ok[me] -> note_failure(me)                          /* MB_ERR_STATE */
    :: cur_ok[me] && ms == cur_sid[me] && me_ == cur_ep[me] ->  /* EP_CUR */
#ifndef BROKEN_NO_REPLAY_CHECK
        if
        :: (cur_win[me] & BIT(mc)) && !fresh(mc) -> skip       /* MB_ERR_REPLAY */
        :: else ->
#endif
            cur_win[me] = cur_win[me] | BIT(mc); accepted = 1
#ifndef BROKEN_NO_REPLAY_CHECK
        fi
#endif
    :: cur_ok[me] && !(ms == cur_sid[me] && me_ == cur_ep[me]) &&
       prev_ok[me] && ms == prev_sid[me] && me_ == prev_ep[me] ->   /* EP_PREV */
#ifndef BROKEN_NO_REPLAY_CHECK
        if
        :: (prev_win[me] & BIT(mc)) && !fresh(mc) -> skip      /* MB_ERR_REPLAY */
        :: else ->
#endif
            prev_win[me] = prev_win[me] | BIT(mc); accepted = 1
#ifndef BROKEN_NO_REPLAY_CHECK
        fi
#endif
    :: cur_ok[me] && !(ms == cur_sid[me] && me_ == cur_ep[me]) &&
       !(prev_ok[me] && ms == prev_sid[me] && me_ == prev_ep[me]) &&
       ms == cur_sid[me] && me_ == cur_ep[me] + 1 ->            /* EP_NEXT: adopt */
        rx_set(me, ms, me_);
        cur_win[me] = BIT(mc); accepted = 1
    :: cur_ok[me] && !(ms == cur_sid[me] && me_ == cur_ep[me]) &&
       !(prev_ok[me] && ms == prev_sid[me] && me_ == prev_ep[me]) &&
       !(ms == cur_sid[me] && me_ == cur_ep[me] + 1) -> note_failure(me)   /* MB_ERR_EPOCH */
    fi;
    if
    :: accepted ->
        check_replay(!(delivered[KEY(ms, 1 - me, me_)] & BIT(mc)));  /* delivered once */
        ghost(delivered[KEY(ms, 1 - me, me_)] = delivered[KEY(ms, 1 - me, me_)] | BIT(mc));
        fail[me] = 0;
        if
        :: kind == SEC -> tx_rotate(me)
        :: else -> skip
        fi;
        accepted = 0
    :: else -> skip
    fi
}

/* mb_session_init_secret() at boot: PS and the HELLO counter base survive
 * (key store), RAM does not. */
inline restart(me) {
    est[me] = 0; hs_reset(me);
    tx_sid[me] = 0; tx_ep[me] = 0; tx_ctr[me] = 0;
    cur_ok[me] = 0; cur_sid[me] = 0; cur_ep[me] = 0; cur_win[me] = 0;
    prev_ok[me] = 0; prev_sid[me] = 0; prev_ep[me] = 0; prev_win[me] = 0;
    fail[me] = 0; exhausted[me] = 0;
    rxc[me] = 0                       /* hctr[me] survives: it is persisted */
#ifdef BROKEN_RNG_REPEATS
    ; if :: me == DEV -> dev_draws = 0 :: else -> skip fi
#endif
}

/* mb_session_rx(): one complete message from the peer. */
proctype Receiver(bit me)
{
    mtype t; byte a, b, c; bit v;
    byte s, nr; bit accepted;
end:
    do
    :: atomic {
        bus[1 - me]?t(a, b, c, v) ->
        if
        :: t == HELLO -> on_hello(me, a, c, v)
        :: t == REPLY -> on_reply(me, b, v)
        :: t == FINISH -> on_finish(me, b, v)
        :: t == DATA || t == SEC -> on_sealed(me, a, b, c, t)
        :: t == GARB -> note_failure(me)      /* AUTH, EPOCH or STATE: tag fails */
        fi;
        t = 0; a = 0; b = 0; c = 0; v = 0; s = 0; nr = 0
       }
    od
}

/* The application over the C API. It starts a handshake as AppNode does:
 * while not established (boot, failed handshake), and when out of epochs
 * (MB_ERR_NONCE_EXHAUSTED); it sends, rekeys and polls at any time. */
proctype App(bit me)
{
end:
    do
    :: atomic {   /* mb_session_start() */
        hs[me] == IDLE && can_draw && nfull(bus[me]) && (!est[me] || exhausted[me]) ->
        hs_start(me)
       }
    :: atomic {   /* mb_session_send(): rotate at rekey_after_msgs, then seal */
        est[me] && !exhausted[me] && nfull(bus[me]) ->
        if
        :: tx_ctr[me] >= CMAX -> tx_rotate(me)
        :: else -> skip
        fi;
        if
        :: !exhausted[me] -> seal(me, DATA)
        :: else -> skip
        fi
       }
    :: atomic {   /* mb_session_rekey(): rotate, then a SECURITY request */
        est[me] && !exhausted[me] && nfull(bus[me]) ->
        tx_rotate(me);
        if
        :: !exhausted[me] -> seal(me, SEC)
        :: else -> skip
        fi
       }
    od
}

/* mb_session_poll() timers. A handshake step times out whenever the
 * attacker may still delay frames; afterwards only when nothing that could
 * complete it is in flight (hs_timeout_ms = 250 is far above the latency
 * of a bus the attacker no longer disturbs). The grace period may end at
 * any time. */
proctype Timers(bit me)
{
end:
    do
    :: atomic { hs[me] != IDLE && (!quiet || !awaited_in_flight(me)) -> hs_reset(me) }
    :: atomic { prev_ok[me] -> prev_ok[me] = 0; prev_sid[me] = 0; prev_ep[me] = 0; prev_win[me] = 0 }
    od
}

/* Attacker: for BUDGET actions, drops, duplicates or reorders frames in
 * flight, replays any genuine REPLY, FINISH or sealed message ever sent
 * (read from the ghost history), forges anything whose MAC or tag cannot
 * verify, or reboots a side. HELLOs are the Injector's. It never learns PS
 * or a session key. */
proctype Attacker()
{
    mtype t; byte a, b, c, s; bit v, d;
end:
    do
#ifndef NO_ATK_DROP
    :: atomic {   /* drop */
        budget > 0 && (len(bus[0]) > 0 || len(bus[1]) > 0) ->
        if :: len(bus[0]) > 0 -> d = 0 :: len(bus[1]) > 0 -> d = 1 fi;
        bus[d]?_, _, _, _, _; budget--; d = 0
       }
#endif
#ifndef NO_ATK_DUP
    :: atomic {   /* duplicate, or move the head to the back (reorder) */
        budget > 0 && ((len(bus[0]) > 0 && nfull(bus[0])) || (len(bus[1]) > 0 && nfull(bus[1]))) ->
        if :: len(bus[0]) > 0 && nfull(bus[0]) -> d = 0 :: len(bus[1]) > 0 && nfull(bus[1]) -> d = 1 fi;
        if
        :: bus[d]?<t, a, b, c, v>
        :: bus[d]?t, a, b, c, v
        fi;
        bus[d]!t, a, b, c, v; budget--;
        t = 0; a = 0; b = 0; c = 0; v = 0; d = 0
       }
#endif
#ifndef NO_ATK_HSREPLAY
    :: atomic {   /* replay a REPLY or FINISH of any past handshake */
        budget > 0 && s_next > 1 ->
        s = 1;
        do
        :: s + 1 < s_next -> s++
        :: break
        od;
        if
        :: nfull(bus[1 - s_init[s]]) -> bus[1 - s_init[s]]!REPLY, 0, s, 0, 1; budget--
        :: conf_i[s] && nfull(bus[s_init[s]]) -> bus[s_init[s]]!FINISH, 0, s, 0, 1; budget--
        :: else -> skip
        fi;
        s = 0
       }
#endif
#ifndef NO_ATK_DATAREPLAY
    :: atomic {   /* replay any message ever sealed */
        budget > 0 && s_next > 1 ->
        s = 1;
        do
        :: s + 1 < s_next -> s++
        :: break
        od;
        if :: d = 0 :: d = 1 fi;
        if :: b = 0 :: EMAX > 0 -> b = 1 :: EMAX > 1 -> b = 2 fi;
        if :: c = 0 :: c = 1 :: CMAX > 2 -> c = 2 fi;
        if
        :: (used[KEY(s, d, b)] & BIT(c)) && nfull(bus[d]) ->
            if
            :: sec_sent[KEY(s, d, b)] & BIT(c) -> bus[d]!SEC, s, b, c, 1
            :: else -> bus[d]!DATA, s, b, c, 1
            fi;
            budget--
        :: else -> skip
        fi;
        s = 0; d = 0; b = 0; c = 0
       }
#endif
#ifndef NO_ATK_FORGE
    :: atomic {   /* forge: a MAC or tag that does not verify */
        budget > 0 && (nfull(bus[0]) || nfull(bus[1])) ->
        if :: nfull(bus[0]) -> d = 0 :: nfull(bus[1]) -> d = 1 fi;
        if
        :: bus[d]!REPLY, 0, 0, 0, 0
        :: bus[d]!FINISH, 0, 0, 0, 0
        :: bus[d]!GARB, 0, 0, 0, 0
        fi;
        budget--; d = 0
       }
#endif
#ifndef NO_ATK_RESTART
    :: atomic {   /* a side reboots */
        budget > 0 -> if :: d = 0 :: d = 1 fi; restart(d); budget--; d = 0
       }
#endif
    :: atomic { quiet = 1; budget = 0; break }
    od
}

/* A HELLO the responder refuses changes nothing at all (on_hello's first
 * branch), so the Injector offers only HELLOs that could pass the rule:
 * the others would be stutter steps, which change no state and no LTL
 * property without "next", but multiply the fairness copies of the
 * liveness runs. Side r can accept a replay when the newest genuine HELLO
 * of its peer (counter hctr[1 - r], every HELLO is recorded) passes; the
 * counter rule is monotone, so then some recorded one passes. */
#define fresh_replay(r) (hctr[1 - (r)] > 0 && hello_ok(r, hctr[1 - (r)], 1))

/* Injector: a node on the bus without keys that never stops. At any step,
 * in either direction, it delivers a forged HELLO (any nonce seen so far or
 * its own, a MAC_H that does not verify; its counter is irrelevant: a
 * refused HELLO is refused whatever it carries, and v1 reads none) or a
 * replay of any genuine HELLO ever sent, with its recorded counter, to the
 * peer of its sender (sent back to its sender, or to another pair, MAC_H
 * does not verify: a forgery). Delivering it at once is no loss: it can
 * choose any moment, before or after any message in flight. */
proctype Injector()
{
    byte n, c, s, nr; bit d;
end:
    do
    :: atomic {   /* forged */
        hello_ok(0, 0, 0) || hello_ok(1, 0, 0) ->
        if :: hello_ok(0, 0, 0) -> d = 0 :: hello_ok(1, 0, 0) -> d = 1 fi;
        do
        :: n + 1 < nonce_next -> n++
        :: break
        od;
        on_hello(d, n, 0, 0);
        n = 0; d = 0; s = 0; nr = 0
       }
    :: atomic {   /* replayed: any recorded HELLO of the peer of d */
        fresh_replay(0) || fresh_replay(1) ->
        if :: fresh_replay(0) -> d = 0 :: fresh_replay(1) -> d = 1 fi;
#ifdef NO_GHOST
        /* Liveness runs keep no recordings, none are needed: the peer's
         * HELLOs carry the counters 1..hctr[1 - d], and the newest is the
         * one it waits for if it is in WAIT_REPLY; any other is a dead end
         * (see dead_end), whatever its nonce. So choose a counter. */
        c = 1;
        do
        :: c < hctr[1 - d] -> c++
        :: break
        od;
        if
        :: c == hctr[1 - d] && hs[1 - d] == WAIT_REPLY -> on_hello(d, hs_ni[1 - d], c, 1)
        :: else -> on_hello(d, 0, c, 1)
        fi;
#else
        n = 1;
        do
        :: n + 1 < nonce_next -> n++
        :: break
        od;
        if
        :: h_from[n] == 2 - d -> on_hello(d, n, h_ctr[n], 1)
        :: else -> skip
        fi;
#endif
        n = 0; c = 0; d = 0; s = 0; nr = 0
       }
    od
}

init {
    atomic {
#ifdef START_ESTABLISHED
        /* the pair completed a handshake (controller initiated) before the run */
        s_ni[1] = 1; s_nr[1] = 2; s_init[1] = CTL; s_next = 2; nonce_next = 3;
        conf_i[1] = 1; install(CTL, 1); install(DEV, 1);
        hctr[CTL] = 1; rxc[DEV] = 1; h_from[1] = CTL + 1; h_ctr[1] = 1;
#ifdef BROKEN_RNG_REPEATS
        dev_seq[0] = 2; dev_draws = 1;   /* N_R = 2 was the device's first draw */
#endif
#endif
        run Receiver(CTL); run Receiver(DEV);
        run App(CTL); run App(DEV);
        run Timers(CTL); run Timers(DEV);
        run Attacker();
#ifndef NO_INJECTOR
        run Injector()
#endif
    }
}

/* Liveness: once the bounded attacker has stopped (the Injector never
 * does), the pair gets back to
 * established on the epochs both send on (checked with weak fairness),
 * unless the run has used up the RESERVE nonces kept for after the attack
 * (the bound of this model; see docs/security/MODEL.md). */
ltl recovers { [] (quiet -> <> (synced || nonce_next > NN)) }
