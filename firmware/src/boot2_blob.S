/* boot2_blob.S: the padded, CRC-stamped boot2 (built by the Makefile) as the image's first 256 bytes. */
    .section .boot2, "ax"
    .incbin BOOT2_BIN
