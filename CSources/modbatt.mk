# The C core as every Makefile that compiles it sees it: its sources, its
# include path and its one warning baseline. Included by CSources/Makefile,
# Tests/CTests, Tests/Load, Tests/Fuzz (and Tests/Fuzz/swift), Tests/Targets,
# Tests/CT and Benchmarks/c; a firmware build may include it too.
#
#   MODBATT_ROOT       the checkout the core is read from (default: the one
#                      this file is in; Tests/Targets sets it to its SRC=)
#   MODBATT_SRCS       CSources/*.c
#   MODBATT_HDRS       the public headers and CSources' private ones
#   MODBATT_INCLUDES   -I for the public headers (the private ones sit next
#                      to the sources and are included with quotes)
#   MODBATT_FW_CONFIG  the firmware mbedTLS configuration (CSources/config)
#   MODBATT_WARNINGS   the flags every core object is compiled with, on every
#                      compiler and target: warnings are errors
#   MODBATT_MBEDTLS_MODULES  the mbedTLS modules the firmware configuration
#                      enables (what a firmware build compiles from mbedTLS)
#
# Only the core's own objects must build with MODBATT_WARNINGS; test and
# harness code may use fewer warnings (each Makefile says where and why).

MODBATT_ROOT ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)

MODBATT_SRCS      := $(wildcard $(MODBATT_ROOT)/CSources/*.c)
MODBATT_HDRS      := $(wildcard $(MODBATT_ROOT)/include/modbatt/*.h $(MODBATT_ROOT)/CSources/*.h)
MODBATT_INCLUDES  := -I$(MODBATT_ROOT)/include
MODBATT_FW_CONFIG := -I$(MODBATT_ROOT)/CSources/config -DMBEDTLS_CONFIG_FILE='"mbedtls_config_fw.h"'
MODBATT_WARNINGS  := -std=c99 -Wall -Wextra -Werror -Wpedantic -Wconversion -Wshadow
MODBATT_MBEDTLS_MODULES := aes gcm cipher cipher_wrap sha256 platform_util platform \
                   memory_buffer_alloc bignum ecp ecp_curves ecdh ecdsa asn1parse \
                   asn1write constant_time md hmac_drbg
