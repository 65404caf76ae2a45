#include "mb_socketcan.h"
int mb_socketcan_available(void) { return 0; }
