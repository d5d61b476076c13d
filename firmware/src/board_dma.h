/* board_dma.h: blocking DMA copies (rounded up to whole words; both addresses word aligned). */
#ifndef BOARD_DMA_H
#define BOARD_DMA_H

#include <stdint.h>

#include "board.h"

void board_dma_init(void);
void board_dma_copy(void *dst, const void *src, uint32_t bytes);

#endif
