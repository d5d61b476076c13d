/* board_timer.c: 64-bit microsecond time and one alarm (ALARM0, TIMER_IRQ_0) from the TIMER. */
#include "board.h"
#include "hw_regs.h"

static volatile uint64_t alarm_target_us;
static volatile bool alarm_pending;

uint64_t board_time_us(void) {
    /* Read the raw registers twice around the high word so a carry between reads cannot tear. */
    uint32_t hi = REG32(TIMER_TIMERAWH);
    for (;;) {
        uint32_t lo = REG32(TIMER_TIMERAWL);
        uint32_t hi2 = REG32(TIMER_TIMERAWH);
        if (hi2 == hi) {
            return ((uint64_t)hi << 32) | lo;
        }
        hi = hi2;
    }
}

static void alarm_arm_hw(void) {
    /* ALARM0 compares the low 32 bits; re-armed from the IRQ until the full 64-bit target passes. */
    uint64_t now = board_time_us();
    uint64_t target = alarm_target_us;
    if (target <= now + 2u) {
        target = now + 2u;
    }
    if (target - now > 0x7FFFFFFFu) {
        target = now + 0x7FFFFFFFu;
    }
    REG32(TIMER_ALARM0) = (uint32_t)target;
}

void board_alarm_set(uint64_t at_us) {
    uint32_t s = hw_irq_save();
    alarm_target_us = at_us;
    alarm_pending = true;
    REG32(TIMER_INTE) |= 1u;
    alarm_arm_hw();
    hw_irq_restore(s);
    hw_irq_enable(IRQ_TIMER_0);
}

void board_alarm_cancel(void) {
    uint32_t s = hw_irq_save();
    alarm_pending = false;
    REG32(TIMER_ARMED) = 1u; /* write 1 to disarm */
    REG32(TIMER_INTR) = 1u;
    hw_irq_restore(s);
}

void isr_timer0(void) {
    REG32(TIMER_INTR) = 1u;
    if (!alarm_pending) {
        return;
    }
    if (board_time_us() + 1u < alarm_target_us) {
        alarm_arm_hw();
        return;
    }
    alarm_pending = false;
    board_alarm_fired();
}
