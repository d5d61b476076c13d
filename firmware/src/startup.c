/* startup.c: the vector table (placed at 0x10000100, after boot2) and the reset handler:
 * copy .data to SRAM, zero .bss, point VTOR at our table, then main(). */
#include <stdint.h>

#include "hw_regs.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
int main(void);
void reset_handler(void);
void isr_timer0(void);
void isr_usbctrl(void);

static void default_handler(void) {
    for (;;) {
        __asm__ volatile("bkpt #0");
    }
}

void nmi_handler(void) __attribute__((weak, alias("default_handler")));
void hardfault_handler(void) __attribute__((weak, alias("default_handler")));

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) static const vector_t vectors[16 + 32] = {
    (vector_t)(uintptr_t)&__stack_top, reset_handler, nmi_handler, hardfault_handler,
    /* 4..15: faults, SVCall, PendSV, SysTick */
    default_handler, default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler,
    /* IRQ 0..31: TIMER_IRQ_0 is 0, USBCTRL_IRQ is 5 */
    isr_timer0, default_handler, default_handler, default_handler,
    default_handler, isr_usbctrl, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
};

void reset_handler(void) {
    volatile uint32_t *src = &__data_load;
    for (volatile uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (volatile uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0u;
    }
    REG32(SCB_VTOR) = (uint32_t)(uintptr_t)vectors;
    (void)main();
    for (;;) {
        hw_wfi();
    }
}
