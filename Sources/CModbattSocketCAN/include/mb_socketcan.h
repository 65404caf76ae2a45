/* Placeholder: the SocketCAN shim arrives with the transports issue. */
#ifndef MB_SOCKETCAN_H
#define MB_SOCKETCAN_H
int mb_socketcan_available(void);
#endif
