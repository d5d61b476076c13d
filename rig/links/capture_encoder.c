/* The USB capture's log encoder in C: a batch of logged transfers (rig.links.capture_blocks.FIELDS
 * items each: code, submit ns, completion ns, where, urb_len, result, data) into their pcapng
 * Submit and Complete blocks, byte for byte what capture_blocks' numpy encoder writes.
 *
 * Why: at close, the numpy encoder spent ~2.1-2.4 us per 1000-byte bulk IN frame (its ~40 calls'
 * fixed costs, Python ints to int64, laying out the data), more than the 5 % the capture may add.
 * Here the log is read straight from the Python list and every block is written into the caller's
 * buffer in one pass. Loaded by rig.links.capture_native through ctypes.PyDLL (the GIL is held for
 * the whole call, and a Python exception set here is raised there). Names carry the capenc_ prefix.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "capture_encoder writes the pcapng section's words in host order: little-endian hosts only"
#endif

/* What rig.links.capture_native checks before it uses this library (a stale build is not used). */
#define CAPENC_ABI 3
#define CAPENC_FIELDS 7 /* capture_blocks.FIELDS */
#define CAPENC_ROW 24   /* capture_blocks.ROW: the previous tail's word, then the 23 head words */
#define CAPENC_HEAD 92  /* enhanced packet block head (28) and usbmon header (64) */
#define CAPENC_BLOCK 96 /* head and tail: a block's bytes besides its data and pad */
#define CAPENC_NS 1000000000LL

/* Head words (as row word indices: a block's byte offset is 4 * (index - 1)) the encoder sets. */
enum {
    CAPENC_W_TOTAL = 2,
    CAPENC_W_STAMP_HIGH = 4,
    CAPENC_W_STAMP_LOW = 5,
    CAPENC_W_CAPLEN = 6,
    CAPENC_W_ORIGLEN = 7,
    CAPENC_W_URB = 8, /* 64 bits */
    CAPENC_W_SECONDS = 12, /* 64 bits */
    CAPENC_W_MICROS = 14,
    CAPENC_W_STATUS = 15,
    CAPENC_W_URB_LEN = 16,
    CAPENC_W_DATA_LEN = 17,
    CAPENC_W_SETUP = 18 /* 64 bits */
};

/* One logged transfer, read from the list. */
typedef struct {
    int64_t t[2]; /* submit, completion (performance counter ns) */
    int64_t where;
    int64_t urb_len;
    int64_t result;
    const char *data;
    int64_t nbytes;
    int64_t row;
} capenc_entry;

int capenc_abi(void);
unsigned long capenc_python(void);
long long capenc_encode(PyObject *flat, PyObject *rows_by_key, PyObject *table, PyObject *kinds,
                        long long to_wall, unsigned long long first_urb, PyObject *comment,
                        PyObject *out, PyObject *starts);

int capenc_abi(void)
{
    return CAPENC_ABI;
}

/* The Python this was compiled for (PY_VERSION_HEX): another one's objects may be laid out
 * differently, so the loader uses the library only under the same major.minor. */
unsigned long capenc_python(void)
{
    return PY_VERSION_HEX;
}

static void capenc_put32(char *block, int word, uint32_t value)
{
    memcpy(block + 4 * (word - 1), &value, 4);
}

static void capenc_put64(char *block, int word, uint64_t value)
{
    memcpy(block + 4 * (word - 1), &value, 8);
}

static int capenc_int(PyObject *flat, Py_ssize_t index, int64_t *value)
{
    long long got = PyLong_AsLongLong(PyList_GET_ITEM(flat, index));
    if (got == -1 && PyErr_Occurred()) {
        return -1;
    }
    *value = (int64_t)got;
    return 0;
}

/* Reads transfer `i` of the list into `entry`; its key (entry code << 8 | the low byte of where)
 * into `key`. -1 with a Python exception set when a field is not what FIELDS says. */
static int capenc_read(PyObject *flat, Py_ssize_t i, capenc_entry *entry, int64_t *key)
{
    Py_ssize_t base = i * CAPENC_FIELDS;
    int64_t code;
    if (capenc_int(flat, base, &code) || capenc_int(flat, base + 1, &entry->t[0])
        || capenc_int(flat, base + 2, &entry->t[1]) || capenc_int(flat, base + 3, &entry->where)
        || capenc_int(flat, base + 4, &entry->urb_len) || capenc_int(flat, base + 5, &entry->result)) {
        return -1;
    }
    PyObject *data = PyList_GET_ITEM(flat, base + 6);
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "capture log entry %zd: data must be bytes, not %.100s", i,
                     Py_TYPE(data)->tp_name);
        return -1;
    }
    entry->data = PyBytes_AS_STRING(data);
    entry->nbytes = (int64_t)PyBytes_GET_SIZE(data);
    if (code < 0 || code > (INT64_MAX >> 8)) {
        PyErr_Format(PyExc_ValueError, "capture log entry %zd: entry code %lld out of range", i,
                     (long long)code);
        return -1;
    }
    *key = code << 8 | (entry->where & 0xFF);
    return 0;
}

/* Stable merge sort of event indices by stamp (equal stamps keep their order: a transfer's Submit
 * before its Complete, as numpy's stable argsort). */
static void capenc_sort(Py_ssize_t *order, Py_ssize_t *scratch, const int64_t *stamp, Py_ssize_t n)
{
    for (Py_ssize_t width = 1; width < n; width *= 2) {
        for (Py_ssize_t lo = 0; lo < n; lo += 2 * width) {
            Py_ssize_t mid = lo + width < n ? lo + width : n;
            Py_ssize_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            Py_ssize_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                scratch[k++] = stamp[order[b]] < stamp[order[a]] ? order[b++] : order[a++];
            }
            while (a < mid) {
                scratch[k++] = order[a++];
            }
            while (b < hi) {
                scratch[k++] = order[b++];
            }
        }
        memcpy(order, scratch, (size_t)n * sizeof *order);
    }
}

/* Writes one event's block at `block`: the fixed words of its table row, then the fields that vary,
 * the data it carries, the zeroed pad, the options (`options_len` bytes, none when 0) and the tail.
 * `total` counts the options. */
static void capenc_block(char *block, const uint32_t *words, const capenc_entry *entry, int event,
                         int is_in, int control, int64_t data_len, uint32_t total, int64_t stamp,
                         uint64_t urb, const char *options, Py_ssize_t options_len)
{
    int64_t seconds = stamp / CAPENC_NS;
    int64_t nanoseconds = stamp % CAPENC_NS;
    if (nanoseconds < 0) { /* floor division, as numpy's divmod */
        nanoseconds += CAPENC_NS;
        seconds -= 1;
    }
    memcpy(block, words + 1, CAPENC_HEAD);
    capenc_put32(block, CAPENC_W_TOTAL, total);
    capenc_put32(block, CAPENC_W_STAMP_HIGH, (uint32_t)((uint64_t)stamp >> 32));
    capenc_put32(block, CAPENC_W_STAMP_LOW, (uint32_t)stamp);
    capenc_put32(block, CAPENC_W_CAPLEN, (uint32_t)(data_len + 64));
    capenc_put32(block, CAPENC_W_ORIGLEN, (uint32_t)(data_len + 64));
    capenc_put64(block, CAPENC_W_URB, urb);
    capenc_put64(block, CAPENC_W_SECONDS, (uint64_t)seconds);
    capenc_put32(block, CAPENC_W_MICROS, (uint32_t)(nanoseconds / 1000));
    capenc_put32(block, CAPENC_W_DATA_LEN, (uint32_t)data_len);
    if (event == 0) {
        int64_t submitted = is_in ? entry->urb_len : entry->nbytes;
        capenc_put32(block, CAPENC_W_URB_LEN, (uint32_t)submitted);
        capenc_put64(block, CAPENC_W_SETUP,
                     control ? (uint64_t)entry->where | (uint64_t)submitted << 48 : 0);
    } else {
        capenc_put32(block, CAPENC_W_STATUS, (uint32_t)(entry->result < 0 ? entry->result : 0));
        capenc_put32(block, CAPENC_W_URB_LEN, (uint32_t)(entry->result > 0 ? entry->result : 0));
    }
    char *tail = block + CAPENC_HEAD;
    if (data_len) {
        memcpy(tail, entry->data, (size_t)data_len);
        tail += data_len;
        int64_t pad = -data_len & 3;
        memset(tail, 0, (size_t)pad);
        tail += pad;
    }
    if (options_len) {
        memcpy(tail, options, (size_t)options_len);
        tail += options_len;
    }
    memcpy(tail, &total, 4);
}

typedef struct {
    Py_buffer lookup, table, kinds, out, starts;
    int held; /* how many of them are held, in that order */
} capenc_buffers;

static void capenc_release(capenc_buffers *buffers)
{
    Py_buffer *all[] = {&buffers->lookup, &buffers->table, &buffers->kinds, &buffers->out,
                        &buffers->starts};
    for (int i = 0; i < buffers->held; i++) {
        PyBuffer_Release(all[i]);
    }
    buffers->held = 0;
}

static int capenc_hold(capenc_buffers *buffers, PyObject *lookup, PyObject *table, PyObject *kinds,
                       PyObject *out, PyObject *starts)
{
    PyObject *objects[] = {lookup, table, kinds, out, starts};
    Py_buffer *all[] = {&buffers->lookup, &buffers->table, &buffers->kinds, &buffers->out,
                        &buffers->starts};
    for (int i = 0; i < 5; i++) {
        int flags = i >= 3 ? PyBUF_WRITABLE : PyBUF_SIMPLE;
        if (PyObject_GetBuffer(objects[i], all[i], flags)) {
            capenc_release(buffers);
            return -1;
        }
        buffers->held = i + 1;
    }
    return 0;
}

/* Encodes the transfers in `flat` (a list of FIELDS items each) into `out` (a writable buffer),
 * the block starts into `starts` (a writable int64 buffer of 2 per transfer), URB ids from
 * `first_urb`, time stamps `to_wall` + the logged ones, blocks in time order; `comment` (None, or
 * bytes: the encoded options of a step's comment, pcapng.encode_options) goes on the first block.
 * `rows_by_key` (intp), `table` (uint32, (rows, 2, ROW)) and `kinds` (int64, (rows, 3)) are a
 * capture_blocks.HeadTable's arrays. Returns the bytes the batch takes: written only when `out` has
 * room for them (otherwise call again with a larger one); -2 - key when a key has no table row
 * yet (add it, then call again); -1 with a Python exception set on bad input. */
long long capenc_encode(PyObject *flat, PyObject *rows_by_key, PyObject *table, PyObject *kinds,
                        long long to_wall, unsigned long long first_urb, PyObject *comment,
                        PyObject *out, PyObject *starts)
{
    if (!PyList_Check(flat)) {
        PyErr_SetString(PyExc_TypeError, "capture log must be a list");
        return -1;
    }
    const char *options = NULL;
    Py_ssize_t options_len = 0;
    if (comment != Py_None) {
        if (!PyBytes_Check(comment) || PyBytes_GET_SIZE(comment) % 4) {
            PyErr_SetString(PyExc_TypeError, "comment: the encoded options (bytes, 32-bit aligned) or None");
            return -1;
        }
        options = PyBytes_AS_STRING(comment);
        options_len = PyBytes_GET_SIZE(comment);
    }
    Py_ssize_t items = PyList_GET_SIZE(flat);
    if (items % CAPENC_FIELDS) {
        PyErr_Format(PyExc_ValueError, "capture log of %zd items is no whole number of entries", items);
        return -1;
    }
    Py_ssize_t count = items / CAPENC_FIELDS;
    capenc_buffers buffers = {.held = 0};
    if (capenc_hold(&buffers, rows_by_key, table, kinds, out, starts)) {
        return -1;
    }
    const Py_ssize_t *lookup = buffers.lookup.buf;
    Py_ssize_t keys = buffers.lookup.len / (Py_ssize_t)sizeof *lookup;
    const uint32_t *words = buffers.table.buf;
    Py_ssize_t rows = buffers.table.len / (Py_ssize_t)(2 * CAPENC_ROW * sizeof *words);
    const int64_t *kind = buffers.kinds.buf;
    long long result = -1;
    capenc_entry *entries = PyMem_Malloc((size_t)(count ? count : 1) * sizeof *entries);
    int64_t *stamp = PyMem_Malloc((size_t)(count ? 2 * count : 1) * sizeof *stamp);
    if (entries == NULL || stamp == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (buffers.kinds.len < rows * 3 * (Py_ssize_t)sizeof *kind) {
        PyErr_SetString(PyExc_ValueError, "head table: fewer kinds than rows");
        goto done;
    }
    if (buffers.starts.len < 2 * count * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "starts: room for fewer than 2 blocks per transfer");
        goto done;
    }
    /* Pass 1: read the log, find every transfer's row, add up the batch's size. */
    int64_t size = 0;
    int overlap = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        capenc_entry *entry = &entries[i];
        int64_t key;
        if (capenc_read(flat, i, entry, &key)) {
            goto done;
        }
        if (key >= keys || lookup[key] < 0) {
            result = -2 - key;
            goto done;
        }
        entry->row = lookup[key];
        if (entry->row >= rows) {
            PyErr_Format(PyExc_ValueError, "head table: row %lld of %zd", (long long)entry->row, rows);
            goto done;
        }
        const int64_t *k = kind + 3 * entry->row;
        size += ((k[0] * entry->nbytes + 3) & -4) + ((k[1] * entry->nbytes + 3) & -4) + 2 * CAPENC_BLOCK;
        stamp[2 * i] = entry->t[0] + to_wall;
        stamp[2 * i + 1] = entry->t[1] + to_wall;
        overlap |= i > 0 && entries[i - 1].t[1] > entry->t[0];
    }
    if (count) {
        size += options_len;
    }
    result = size;
    if (size > buffers.out.len) {
        goto done; /* the caller gives a larger buffer */
    }
    /* Pass 2: the blocks, in time order. */
    Py_ssize_t events = 2 * count;
    Py_ssize_t *order = NULL;
    if (overlap) {
        order = PyMem_Malloc(2 * (size_t)events * sizeof *order);
        if (order == NULL) {
            PyErr_NoMemory();
            result = -1;
            goto done;
        }
        for (Py_ssize_t e = 0; e < events; e++) {
            order[e] = e;
        }
        capenc_sort(order, order + events, stamp, events);
    }
    char *bytes = buffers.out.buf;
    int64_t *start = buffers.starts.buf;
    int64_t at = 0;
    for (Py_ssize_t n = 0; n < events; n++) {
        Py_ssize_t e = order ? order[n] : n;
        const capenc_entry *entry = &entries[e / 2];
        int event = (int)(e % 2);
        const int64_t *k = kind + 3 * entry->row;
        int64_t data_len = k[event] * entry->nbytes;
        Py_ssize_t with = n ? 0 : options_len;
        uint32_t total = (uint32_t)(((data_len + 3) & -4) + CAPENC_BLOCK + with);
        start[n] = at;
        capenc_block(bytes + at, words + (2 * entry->row + event) * CAPENC_ROW, entry, event,
                     (int)k[1], (int)k[2], data_len, total, stamp[e], first_urb + (uint64_t)(e / 2),
                     options, with);
        at += total;
    }
    PyMem_Free(order);
done:
    PyMem_Free(entries);
    PyMem_Free(stamp);
    capenc_release(&buffers);
    return result;
}
