/* SocketCAN shim for ModbattCAN: see include/mb_socketcan.h. */
#include "mb_socketcan.h"

#include <errno.h>

#if defined(__linux__)
#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef MB_HAVE_LIBSOCKETCAN
#include <libsocketcan.h>
#endif

#define MB_MAX_FILTERS 512

static int neg_errno(void) { return errno ? -errno : -EIO; }

/* Fill ifr with the interface name; -EINVAL if empty or too long. */
static int fill_ifreq(struct ifreq *ifr, const char *ifname) {
    if (ifname == NULL) return -EINVAL;
    size_t n = strlen(ifname);
    if (n == 0 || n >= IFNAMSIZ) return -EINVAL;
    memset(ifr, 0, sizeof *ifr);
    memcpy(ifr->ifr_name, ifname, n);
    return 0;
}

int mb_can_open(const char *ifname, int enable_fd, int *out_fd) {
    struct ifreq ifr;
    struct sockaddr_can addr;
    int rc, fd, on = 1;

    if (out_fd == NULL) return -EINVAL;
    *out_fd = -1;
    if ((rc = fill_ifreq(&ifr, ifname)) != 0) return rc;

    fd = socket(PF_CAN, SOCK_RAW, CAN_RAW);
    if (fd < 0) return neg_errno(); /* EAFNOSUPPORT: no AF_CAN in this kernel */

    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on) < 0) goto fail;
    if (enable_fd && setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, &on, sizeof on) < 0) goto fail;

    memset(&addr, 0, sizeof addr);
    addr.can_family = AF_CAN;
    addr.can_ifindex = ifr.ifr_ifindex;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) goto fail;

    *out_fd = fd;
    return 0;
fail:
    rc = neg_errno();
    close(fd);
    return rc;
}

int mb_can_close(int fd) { return close(fd) == 0 ? 0 : neg_errno(); }

int mb_can_set_filters(int fd, const mb_can_filter *filters, size_t count) {
    struct can_filter kf[MB_MAX_FILTERS];
    if (count > MB_MAX_FILTERS || (count > 0 && filters == NULL)) return -EINVAL;
    for (size_t i = 0; i < count; i++) {
        uint32_t flag = filters[i].extended ? CAN_EFF_FLAG : 0;
        uint32_t idmask = filters[i].extended ? CAN_EFF_MASK : CAN_SFF_MASK;
        kf[i].can_id = (filters[i].id & idmask) | flag;
        /* Match on the EFF flag too, so standard and extended never mix. */
        kf[i].can_mask = (filters[i].mask & idmask) | CAN_EFF_FLAG | CAN_RTR_FLAG;
        if (filters[i].invert) kf[i].can_id |= CAN_INV_FILTER;
    }
    if (setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FILTER, count ? kf : NULL,
                   (socklen_t)(count * sizeof kf[0])) < 0)
        return neg_errno();
    return 0;
}

int mb_can_clear_filters(int fd) {
    struct can_filter all = {.can_id = 0, .can_mask = 0};
    if (setsockopt(fd, SOL_CAN_RAW, CAN_RAW_FILTER, &all, sizeof all) < 0) return neg_errno();
    return 0;
}

int mb_can_set_receive_own(int fd, int on) {
    int v = on ? 1 : 0;
    if (setsockopt(fd, SOL_CAN_RAW, CAN_RAW_RECV_OWN_MSGS, &v, sizeof v) < 0) return neg_errno();
    return 0;
}

int mb_can_write(int fd, const mb_can_frame *frame) {
    struct canfd_frame f;
    size_t size;
    ssize_t n;

    if (frame == NULL || (frame->flags & (MB_CAN_FLAG_RTR | MB_CAN_FLAG_ERROR))) return -EINVAL;
    memset(&f, 0, sizeof f);
    if (frame->flags & MB_CAN_FLAG_EXTENDED) {
        if (frame->id > CAN_EFF_MASK) return -EINVAL;
        f.can_id = frame->id | CAN_EFF_FLAG;
    } else {
        if (frame->id > CAN_SFF_MASK) return -EINVAL;
        f.can_id = frame->id;
    }
    if (frame->flags & MB_CAN_FLAG_FD) {
        if (frame->len > CANFD_MAX_DLEN) return -EINVAL;
        f.flags = (uint8_t)(((frame->flags & MB_CAN_FLAG_BRS) ? CANFD_BRS : 0) |
                            ((frame->flags & MB_CAN_FLAG_ESI) ? CANFD_ESI : 0));
        size = CANFD_MTU;
    } else {
        if (frame->len > CAN_MAX_DLEN) return -EINVAL;
        size = CAN_MTU;
    }
    f.len = frame->len;
    memcpy(f.data, frame->data, frame->len);
    n = write(fd, &f, size);
    if (n < 0) return neg_errno();
    return n == (ssize_t)size ? 0 : -EIO;
}

int mb_can_read(int fd, mb_can_frame *frame, int64_t *ts_sec, int32_t *ts_usec, int timeout_ms) {
    struct canfd_frame f;
    struct iovec iov = {.iov_base = &f, .iov_len = sizeof f};
    char control[CMSG_SPACE(sizeof(struct timeval))];
    struct msghdr msg;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    struct cmsghdr *cmsg;
    struct timeval tv = {0, 0};
    ssize_t n;
    int rc;

    if (frame == NULL || ts_sec == NULL || ts_usec == NULL) return -EINVAL;
    rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0) return errno == EINTR ? 0 : neg_errno();
    if (rc == 0) return 0;

    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    n = recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0) return (errno == EAGAIN || errno == EINTR) ? 0 : neg_errno();
    if (n != CAN_MTU && n != CANFD_MTU) return -EIO;

    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SO_TIMESTAMP)
            memcpy(&tv, CMSG_DATA(cmsg), sizeof tv);
    }
    if (tv.tv_sec == 0 && tv.tv_usec == 0) gettimeofday(&tv, NULL);
    *ts_sec = (int64_t)tv.tv_sec;
    *ts_usec = (int32_t)tv.tv_usec;

    memset(frame, 0, sizeof *frame);
    frame->flags = 0;
    if (f.can_id & CAN_EFF_FLAG) {
        frame->flags |= MB_CAN_FLAG_EXTENDED;
        frame->id = f.can_id & CAN_EFF_MASK;
    } else {
        frame->id = f.can_id & CAN_SFF_MASK;
    }
    if (f.can_id & CAN_RTR_FLAG) frame->flags |= MB_CAN_FLAG_RTR;
    if (f.can_id & CAN_ERR_FLAG) frame->flags |= MB_CAN_FLAG_ERROR;
    if (n == CANFD_MTU) {
        frame->flags |= MB_CAN_FLAG_FD;
        if (f.flags & CANFD_BRS) frame->flags |= MB_CAN_FLAG_BRS;
        if (f.flags & CANFD_ESI) frame->flags |= MB_CAN_FLAG_ESI;
    }
    frame->len = f.len > CANFD_MAX_DLEN ? CANFD_MAX_DLEN : f.len;
    if (n == CAN_MTU && frame->len > CAN_MAX_DLEN) frame->len = CAN_MAX_DLEN;
    memcpy(frame->data, f.data, frame->len);
    return 1;
}

int mb_can_interface_mtu(const char *ifname) {
    struct ifreq ifr;
    int rc, fd;
    if ((rc = fill_ifreq(&ifr, ifname)) != 0) return rc;
    fd = socket(PF_CAN, SOCK_RAW, CAN_RAW);
    if (fd < 0) return neg_errno();
    rc = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? neg_errno() : ifr.ifr_mtu;
    close(fd);
    return rc;
}

#ifdef MB_HAVE_LIBSOCKETCAN
/* libsocketcan returns -1 and (usually) leaves errno set. */
static int lsc(int rc) {
    if (rc == 0) return 0;
    return errno ? -errno : -EIO;
}
int mb_can_setup_available(void) { return 1; }
int mb_can_set_bitrate(const char *ifname, uint32_t bitrate) { errno = 0; return lsc(can_set_bitrate(ifname, bitrate)); }
int mb_can_start(const char *ifname) { errno = 0; return lsc(can_do_start(ifname)); }
int mb_can_stop(const char *ifname) { errno = 0; return lsc(can_do_stop(ifname)); }
int mb_can_restart(const char *ifname) { errno = 0; return lsc(can_do_restart(ifname)); }
int mb_can_set_restart_ms(const char *ifname, uint32_t ms) { errno = 0; return lsc(can_set_restart_ms(ifname, ms)); }
int mb_can_get_state(const char *ifname, int *state) {
    if (state == NULL) return -EINVAL;
    errno = 0;
    return lsc(can_get_state(ifname, state));
}
#else
int mb_can_setup_available(void) { return 0; }
int mb_can_set_bitrate(const char *ifname, uint32_t bitrate) { (void)ifname; (void)bitrate; return -ENOSYS; }
int mb_can_start(const char *ifname) { (void)ifname; return -ENOSYS; }
int mb_can_stop(const char *ifname) { (void)ifname; return -ENOSYS; }
int mb_can_restart(const char *ifname) { (void)ifname; return -ENOSYS; }
int mb_can_set_restart_ms(const char *ifname, uint32_t ms) { (void)ifname; (void)ms; return -ENOSYS; }
int mb_can_get_state(const char *ifname, int *state) { (void)ifname; (void)state; return -ENOSYS; }
#endif

#else /* not Linux: no SocketCAN */

int mb_can_open(const char *ifname, int enable_fd, int *out_fd) {
    (void)ifname; (void)enable_fd;
    if (out_fd) *out_fd = -1;
    return -EAFNOSUPPORT;
}
int mb_can_close(int fd) { (void)fd; return -EAFNOSUPPORT; }
int mb_can_set_filters(int fd, const mb_can_filter *f, size_t n) { (void)fd; (void)f; (void)n; return -EAFNOSUPPORT; }
int mb_can_clear_filters(int fd) { (void)fd; return -EAFNOSUPPORT; }
int mb_can_set_receive_own(int fd, int on) { (void)fd; (void)on; return -EAFNOSUPPORT; }
int mb_can_write(int fd, const mb_can_frame *f) { (void)fd; (void)f; return -EAFNOSUPPORT; }
int mb_can_read(int fd, mb_can_frame *f, int64_t *s, int32_t *u, int t) { (void)fd; (void)f; (void)s; (void)u; (void)t; return -EAFNOSUPPORT; }
int mb_can_interface_mtu(const char *ifname) { (void)ifname; return -EAFNOSUPPORT; }
int mb_can_setup_available(void) { return 0; }
int mb_can_set_bitrate(const char *i, uint32_t b) { (void)i; (void)b; return -ENOSYS; }
int mb_can_start(const char *i) { (void)i; return -ENOSYS; }
int mb_can_stop(const char *i) { (void)i; return -ENOSYS; }
int mb_can_restart(const char *i) { (void)i; return -ENOSYS; }
int mb_can_set_restart_ms(const char *i, uint32_t ms) { (void)i; (void)ms; return -ENOSYS; }
int mb_can_get_state(const char *i, int *s) { (void)i; (void)s; return -ENOSYS; }
#endif
