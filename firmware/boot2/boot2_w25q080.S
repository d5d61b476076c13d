/* boot2_w25q080.S: second-stage boot for the Pico's W25Q080 flash (datasheet 2.8.1.3).
 * The ROM copies these 256 bytes to SRAM 0x20041F00, checks the CRC-32 at offset 252 and calls
 * here. We set the XIP SSI to serial reads with the 03h command (24-bit address, 32-bit frames),
 * which every 25-series flash including the W25Q080 supports, then either return (when called as
 * a function, lr != 0) or enter the image's vector table at 0x10000100 (when called by the ROM).
 * Position independent: only PC-relative literal loads. */
    .syntax unified
    .cpu cortex-m0plus
    .thumb

    .equ SSI_BASE, 0x18000000
    .equ SSI_CTRLR0, 0x00
    .equ SSI_CTRLR1, 0x04
    .equ SSI_SSIENR, 0x08
    .equ SSI_BAUDR, 0x14
    .equ SSI_SPI_CTRLR0, 0xF4
    /* CTRLR0: SPI_FRF standard (22:21 = 0), DFS_32 = 31 (20:16), TMOD = EEPROM read (9:8 = 3). */
    .equ CTRLR0_VALUE, (31 << 16) | (3 << 8)
    /* SPI_CTRLR0: XIP_CMD 0x03 (31:24), INST_L 8 bits (9:8 = 2), ADDR_L 24 bits (5:2 = 6). */
    .equ SPI_CTRLR0_VALUE, (0x03 << 24) | (2 << 8) | (6 << 2)
    .equ CLK_DIVIDER, 4
    .equ VECTORS, 0x10000100
    .equ SCB_VTOR, 0xE000ED08

    .section .text
    .global boot2_entry
    .type boot2_entry, %function
boot2_entry:
    push {lr}
    ldr r3, =SSI_BASE
    movs r1, #0
    str r1, [r3, #SSI_SSIENR]
    movs r1, #CLK_DIVIDER
    str r1, [r3, #SSI_BAUDR]
    ldr r1, =CTRLR0_VALUE
    str r1, [r3, #SSI_CTRLR0]
    movs r1, #0
    str r1, [r3, #SSI_CTRLR1]
    ldr r1, =SPI_CTRLR0_VALUE
    movs r0, #SSI_SPI_CTRLR0
    str r1, [r3, r0]
    movs r1, #1
    str r1, [r3, #SSI_SSIENR]
    pop {r0}
    cmp r0, #0
    beq enter_image
    bx r0
enter_image:
    ldr r0, =VECTORS
    ldr r1, =SCB_VTOR
    str r0, [r1]
    ldmia r0!, {r1, r2}
    msr msp, r1
    bx r2
    .ltorg
