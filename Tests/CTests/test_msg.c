/*
 * test_msg.c - protocol v1 message ids and payload layouts (mb_msg.h):
 * fixed byte images, round trips, and rejection of bad lengths and values.
 */
#include "mbt.h"
#include "modbatt/modbatt.h"

static void test_ids(void)
{
    mb_role r;
    unsigned t;
    MBT_EQ_INT(mb_msg_id(MB_ROLE_CONTROLLER, MB_MSG_HELLO), 0x300);
    MBT_EQ_INT(mb_msg_id(MB_ROLE_CONTROLLER, MB_MSG_COMMAND), 0x304);
    MBT_EQ_INT(mb_msg_id(MB_ROLE_DEVICE, MB_MSG_STATUS), 0x316);
    MBT_EQ_INT(mb_msg_id(MB_ROLE_DEVICE, MB_MSG_APP_LAST), 0x31F);
    MBT_EQ_INT(mb_msg_parse_id(0x317, &r, &t), MB_OK);
    MBT_EQ_INT(r, MB_ROLE_DEVICE);
    MBT_EQ_INT(t, MB_MSG_DIAG);
    MBT_EQ_INT(mb_msg_parse_id(0x2FF, &r, &t), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_msg_parse_id(0x320, &r, &t), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_msg_parse_id(0x407, &r, &t), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_msg_parse_id(0x4A7, &r, &t), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_msg_parse_id(0x300, NULL, &t), MB_ERR_NULL);
}

static void test_status(void)
{
    mb_status s = { 40120, -1234, 255, 8750, MB_STATE_ON, 0x04 }, o;
    uint8_t buf[16];
    uint8_t want[10] = { 0x9C, 0xB8, 0xFB, 0x2E, 0x00, 0xFF, 0x22, 0x2E, 0x03, 0x04 };
    size_t len;
    MBT_EQ_INT(mb_msg_encode_status(&s, buf, sizeof(buf), &len), MB_OK);
    MBT_EQ_INT(len, 10);
    MBT_EQ_MEM(buf, want, 10);
    MBT_EQ_INT(mb_msg_decode_status(buf, len, &o), MB_OK);
    MBT_EQ_INT(o.voltage_cv, 40120);
    MBT_EQ_INT(o.current_da, -1234);
    MBT_EQ_INT(o.temperature_dc, 255);
    MBT_EQ_INT(o.soc_cpct, 8750);
    MBT_EQ_INT(o.state, MB_STATE_ON);
    MBT_EQ_INT(o.flags, 4);
    s.current_da = -32768;
    MBT_EQ_INT(mb_msg_encode_status(&s, buf, sizeof(buf), &len), MB_OK);
    MBT_EQ_INT(mb_msg_decode_status(buf, len, &o), MB_OK);
    MBT_EQ_INT(o.current_da, -32768);
    MBT_EQ_INT(mb_msg_decode_status(buf, 9, &o), MB_ERR_MALFORMED);
    MBT_EQ_INT(mb_msg_encode_status(&s, buf, 9, &len), MB_ERR_BUFFER_TOO_SMALL);
    s.soc_cpct = 10001;
    MBT_EQ_INT(mb_msg_encode_status(&s, buf, sizeof(buf), &len), MB_ERR_INVALID_ARG);
    buf[8] = 4;
    MBT_EQ_INT(mb_msg_decode_status(buf, 10, &o), MB_ERR_MALFORMED);
}

static void test_command_limits(void)
{
    mb_command c = { MB_STATE_PRECHARGE }, co;
    mb_limits l = { 1500, 3000, 40320, 30000 }, lo;
    uint8_t buf[8];
    uint8_t want[8] = { 0x05, 0xDC, 0x0B, 0xB8, 0x9D, 0x80, 0x75, 0x30 };
    size_t len;
    MBT_EQ_INT(mb_msg_encode_command(&c, buf, sizeof(buf), &len), MB_OK);
    MBT_EQ_INT(len, 2);
    MBT_EQ_INT(buf[0], 2);
    MBT_EQ_INT(buf[1], 0);
    MBT_EQ_INT(mb_msg_decode_command(buf, 2, &co), MB_OK);
    MBT_EQ_INT(co.state, MB_STATE_PRECHARGE);
    buf[1] = 1;
    MBT_EQ_INT(mb_msg_decode_command(buf, 2, &co), MB_ERR_MALFORMED);
    c.state = 4;
    MBT_EQ_INT(mb_msg_encode_command(&c, buf, sizeof(buf), &len), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_msg_encode_limits(&l, buf, sizeof(buf), &len), MB_OK);
    MBT_EQ_MEM(buf, want, 8);
    MBT_EQ_INT(mb_msg_decode_limits(buf, 8, &lo), MB_OK);
    MBT_EQ_INT(lo.charge_voltage_cv, 40320);
    MBT_EQ_INT(lo.discharge_voltage_cv, 30000);
    MBT_EQ_INT(mb_msg_decode_limits(buf, 7, &lo), MB_ERR_MALFORMED);
}

static void test_diag(void)
{
    mb_diag_errors e, eo;
    mb_diag_health h = { 86400, 3, 1, 42, 7 }, ho;
    uint8_t buf[64];
    uint8_t want_h[15] = { 2, 0x00, 0x01, 0x51, 0x80, 0, 3, 0, 1, 0, 0, 0, 42, 0, 7 };
    size_t len;
    memset(&e, 0, sizeof(e));
    e.count = 2;
    e.codes[0] = 0x1001;
    e.codes[1] = 0xBEEF;
    MBT_EQ_INT(mb_msg_encode_diag_errors(&e, buf, sizeof(buf), &len), MB_OK);
    MBT_EQ_INT(len, 6);
    MBT_EQ_INT(buf[0], MB_DIAG_ERRORS);
    MBT_EQ_INT(buf[5], 0xEF);
    MBT_EQ_INT(mb_msg_decode_diag_errors(buf, len, &eo), MB_OK);
    MBT_EQ_INT(eo.count, 2);
    MBT_EQ_INT(eo.codes[1], 0xBEEF);
    MBT_EQ_INT(mb_msg_decode_diag_errors(buf, len - 1, &eo), MB_ERR_MALFORMED);
    e.count = 17;
    MBT_EQ_INT(mb_msg_encode_diag_errors(&e, buf, sizeof(buf), &len), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_msg_encode_diag_health(&h, buf, sizeof(buf), &len), MB_OK);
    MBT_EQ_INT(len, 15);
    MBT_EQ_MEM(buf, want_h, 15);
    MBT_EQ_INT(mb_msg_decode_diag_health(buf, len, &ho), MB_OK);
    MBT_EQ_INT(ho.uptime_s, 86400);
    MBT_EQ_INT(ho.tx_epoch, 42);
    MBT_EQ_INT(mb_msg_decode_diag_errors(buf, len, &eo), MB_ERR_MALFORMED);  /* wrong kind */
}

int main(void)
{
    MBT_RUN(test_ids);
    MBT_RUN(test_status);
    MBT_RUN(test_command_limits);
    MBT_RUN(test_diag);
    return mbt_finish("test_msg");
}
