/* board_dma.c: word copies by DMA channel 0 (permanent transfer request), used to move packets
 * between USB DPRAM buffers and the frame ring. */
#include "board_dma.h"

#include "hw_regs.h"

#define DMA_CH 0u

void board_dma_init(void) { board_unreset(RESET_DMA); }

void board_dma_copy(void *dst, const void *src, uint32_t bytes) {
    uint32_t words = (bytes + 3u) / 4u;
    if (words == 0u) {
        return;
    }
    REG32(DMA_CH_READ_ADDR(DMA_CH)) = (uint32_t)(uintptr_t)src;
    REG32(DMA_CH_WRITE_ADDR(DMA_CH)) = (uint32_t)(uintptr_t)dst;
    REG32(DMA_CH_TRANS_COUNT(DMA_CH)) = words;
    REG32(DMA_CH_CTRL_TRIG(DMA_CH)) = DMA_CTRL_EN | DMA_CTRL_DATA_SIZE_WORD | DMA_CTRL_INCR_READ |
                                      DMA_CTRL_INCR_WRITE | DMA_CTRL_CHAIN_TO(DMA_CH) |
                                      DMA_CTRL_TREQ_PERMANENT | DMA_CTRL_IRQ_QUIET;
    while (REG32(DMA_CH_CTRL_TRIG(DMA_CH)) & DMA_CTRL_BUSY) {
    }
}
