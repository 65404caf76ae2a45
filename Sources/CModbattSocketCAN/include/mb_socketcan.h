/**
 * \file mb_socketcan.h
 * \brief Tiny shim over Linux SocketCAN raw sockets (and, optionally,
 *        libsocketcan interface setup) for the Swift transport.
 *
 * Why C: Glibc's Swift overlay has no `sockaddr_can`, `struct canfd_frame`
 * or the CAN socket options, and `struct ifreq` is awkward from Swift. Every
 * function returns 0 (or a positive count) on success and `-errno` on
 * failure, so Swift maps one integer to a typed error. On systems without
 * <linux/can.h> every call returns -EAFNOSUPPORT.
 *
 * Interface setup (bitrate, start/stop/restart, state) needs libsocketcan
 * and is compiled only when MB_HAVE_LIBSOCKETCAN is defined (the package
 * trait `SocketCANSetup`); otherwise those calls return -ENOSYS.
 */
#ifndef MB_SOCKETCAN_H
#define MB_SOCKETCAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Frame flags of \ref mb_can_frame. */
#define MB_CAN_FLAG_EXTENDED 0x01u /**< 29-bit identifier */
#define MB_CAN_FLAG_FD       0x02u /**< CAN FD frame */
#define MB_CAN_FLAG_BRS      0x04u /**< CAN FD bit-rate switch */
#define MB_CAN_FLAG_ESI      0x08u /**< CAN FD error-state indicator */
#define MB_CAN_FLAG_RTR      0x10u /**< remote frame (received only; not sent) */
#define MB_CAN_FLAG_ERROR    0x20u /**< error frame (received only) */

/** A frame as Swift sees it: no kernel struct crosses the boundary. */
typedef struct {
    uint32_t id;        /**< identifier without flag bits */
    uint8_t flags;      /**< MB_CAN_FLAG_* */
    uint8_t len;        /**< payload bytes, 0..8 classic, 0..64 FD */
    uint8_t data[64];
} mb_can_frame;

/** One acceptance filter: a frame passes if (frame_id & mask) == (id & mask).
 *  `extended` chooses which id kind the filter matches. */
typedef struct {
    uint32_t id;
    uint32_t mask;
    uint8_t extended;
    uint8_t invert;     /**< pass frames that do NOT match */
} mb_can_filter;

/**
 * \brief Open a raw CAN socket bound to interface `ifname`.
 * \param ifname    interface name (at most 15 characters), e.g. "can0".
 * \param enable_fd non-zero: accept and send CAN FD frames (CAN_RAW_FD_FRAMES).
 * \param out_fd    receives the socket on success.
 * \return 0; -EAFNOSUPPORT if the kernel lacks AF_CAN; -ENODEV if there is no
 *         such interface; -EINVAL for a bad name; other -errno from socket,
 *         ioctl, setsockopt or bind.
 */
int mb_can_open(const char *ifname, int enable_fd, int *out_fd);

/** \brief Close the socket. \return 0 or -errno. */
int mb_can_close(int fd);

/**
 * \brief Replace the socket's receive filters. A frame is received if any
 *        filter passes it; count 0 receives nothing (mb_can_clear_filters
 *        receives everything again).
 * \return 0, -EINVAL if count > 512, or -errno from setsockopt.
 */
int mb_can_set_filters(int fd, const mb_can_filter *filters, size_t count);

/** \brief Receive every frame again (the default). \return 0 or -errno. */
int mb_can_clear_filters(int fd);

/** \brief Receive the frames this socket sends (CAN_RAW_RECV_OWN_MSGS). */
int mb_can_set_receive_own(int fd, int on);

/**
 * \brief Send one frame.
 * \return 0; -EINVAL for a frame the flags do not allow (FD on a socket
 *         opened without FD, length > 8 classic or > 64); -ENOBUFS when
 *         the interface queue is full; other -errno from write.
 */
int mb_can_write(int fd, const mb_can_frame *frame);

/**
 * \brief Wait up to `timeout_ms` for one frame and read it with its kernel
 *        receive timestamp (SO_TIMESTAMP).
 * \param ts_sec, ts_usec  the timestamp (Unix time); wall clock if the kernel
 *        gave none.
 * \return 1 if a frame was read, 0 on timeout, -errno on failure.
 */
int mb_can_read(int fd, mb_can_frame *frame, int64_t *ts_sec, int32_t *ts_usec, int timeout_ms);

/** \brief MTU of the interface: 16 (classic), 72 (CAN FD), or -errno. */
int mb_can_interface_mtu(const char *ifname);

/** \brief 1 if built with libsocketcan (trait SocketCANSetup), else 0. */
int mb_can_setup_available(void);

/** \brief Set the nominal bitrate (interface must be down). 0 or -errno / -ENOSYS. */
int mb_can_set_bitrate(const char *ifname, uint32_t bitrate);
/** \brief Bring the interface up. 0 or -errno / -ENOSYS. */
int mb_can_start(const char *ifname);
/** \brief Bring the interface down. 0 or -errno / -ENOSYS. */
int mb_can_stop(const char *ifname);
/** \brief Restart after bus-off (only when restart-ms is 0). 0 or -errno / -ENOSYS. */
int mb_can_restart(const char *ifname);
/** \brief Automatic restart delay after bus-off, in ms (0 = manual). */
int mb_can_set_restart_ms(const char *ifname, uint32_t ms);
/**
 * \brief Controller state: 0 error-active, 1 error-warning, 2 error-passive,
 *        3 bus-off, 4 stopped, 5 sleeping.
 * \return 0 or -errno / -ENOSYS.
 */
int mb_can_get_state(const char *ifname, int *state);

#ifdef __cplusplus
}
#endif
#endif /* MB_SOCKETCAN_H */
