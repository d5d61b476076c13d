/* The USB capture's recorded link transfers in C: what rig.links.recording_backend's
 * sent_on_link and received_on_link closures do (time the link's send or receive, log the transfer
 * as one capture_blocks.FIELDS entry, count its bytes against the log's budget), as builtin
 * functions the recording backend installs in their place.
 *
 * Why: on the loopback every frame's own work is Python, and the closures' ~0.3 us per transfer
 * counted two to four times over in the capture benchmark's bulk IN CPU (the frame source thread
 * then waits and is woken more often), which kept capture on above its 5 % there.
 * Made by caprec_new (called through ctypes.PyDLL, which holds the GIL); each function keeps
 * its state in a capsule. The clock is CLOCK_MONOTONIC, which is what time.perf_counter_ns reads on
 * Linux (rig.links.capture_native checks that before it uses these). Names carry the caprec_ prefix.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <time.h>

#define CAPREC_CAPSULE "rig.links.capture_recorder"
#define CAPREC_ENTRY_BYTES 160 /* capture.ENTRY_BYTES */

/* What one recorded transfer function needs. */
typedef struct {
    PyObject *transfer; /* the link backend's send or receive */
    PyObject *log;      /* the capture's log (a list) */
    PyObject *code;     /* the log entry's code (an int) */
    PyObject *spill;    /* called when the budget is spent: encodes the logs, resets the budget */
    PyObject *failed;   /* called as failed(exc, t0, ep, urb_len, data) when the transfer raised */
    Py_buffer room;     /* int64[1]: bytes still to log before spilling, shared with Python */
    PyObject *sizes[2]; /* the last urb_len and the last result logged, as ints: a transfer that
                           repeats them (most do) logs the same objects, allocating none */
} caprec_state;

PyObject *caprec_new(PyObject *transfer, PyObject *log, long long code, PyObject *spill,
                          PyObject *failed, PyObject *room, int is_in);
long long caprec_clock(void);

static int64_t caprec_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* The clock the recorder stamps transfers with, for the check against time.perf_counter_ns. */
long long caprec_clock(void)
{
    return (long long)caprec_now();
}

static void caprec_free(PyObject *capsule)
{
    caprec_state *state = PyCapsule_GetPointer(capsule, CAPREC_CAPSULE);
    if (state == NULL) {
        PyErr_Clear();
        return;
    }
    PyBuffer_Release(&state->room);
    Py_XDECREF(state->transfer);
    Py_XDECREF(state->log);
    Py_XDECREF(state->code);
    Py_XDECREF(state->spill);
    Py_XDECREF(state->failed);
    Py_XDECREF(state->sizes[0]);
    Py_XDECREF(state->sizes[1]);
    PyMem_Free(state);
}

/* `value` as an int (a new reference): the one kept in sizes[slot] when it is the same. */
static PyObject *caprec_size(caprec_state *state, int slot, Py_ssize_t value)
{
    PyObject *kept = state->sizes[slot];
    if (kept != NULL && PyLong_AsSsize_t(kept) == value) {
        Py_INCREF(kept);
        return kept;
    }
    PyObject *made = PyLong_FromSsize_t(value);
    if (made != NULL) {
        Py_INCREF(made);
        Py_XSETREF(state->sizes[slot], made);
    }
    return made;
}

/* Appends one entry (FIELDS items) to the log; -1 with an exception set when memory runs out, the
 * log as it was (a part of an entry would shift every later one). The GIL is held throughout and
 * no Python code runs in between (ints and list slots are no objects the GC tracks), so no other
 * thread's entry comes between the items. */
static int caprec_log(caprec_state *state, int64_t t0, int64_t t1, PyObject *ep, Py_ssize_t urb_len,
                      PyObject *result, PyObject *data)
{
    PyObject *items[7] = {state->code, PyLong_FromLongLong(t0), PyLong_FromLongLong(t1), ep,
                          caprec_size(state, 0, urb_len), result, data};
    Py_ssize_t before = PyList_GET_SIZE(state->log);
    int failed = items[1] == NULL || items[2] == NULL || items[4] == NULL;
    for (int i = 0; i < 7 && !failed; i++) {
        failed = PyList_Append(state->log, items[i]) != 0;
    }
    if (failed && PyList_GET_SIZE(state->log) > before) {
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (PyList_SetSlice(state->log, before, PyList_GET_SIZE(state->log), NULL)) {
            PyErr_Clear();
        }
        PyErr_Restore(type, value, traceback);
    }
    Py_XDECREF(items[1]);
    Py_XDECREF(items[2]);
    Py_XDECREF(items[4]);
    return failed ? -1 : 0;
}

/* Counts `nbytes` against the budget; spills when it is spent. */
static int caprec_charge(caprec_state *state, Py_ssize_t nbytes)
{
    int64_t *room = state->room.buf;
    *room -= nbytes + CAPREC_ENTRY_BYTES;
    if (*room >= 0) {
        return 0;
    }
    PyObject *done = PyObject_CallNoArgs(state->spill);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* The transfer raised: log it through `failed` (which knows its usbmon status), then raise it. */
static PyObject *caprec_raise(caprec_state *state, int64_t t0, PyObject *ep, Py_ssize_t urb_len,
                              PyObject *data)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (traceback != NULL && value != NULL) {
        PyException_SetTraceback(value, traceback);
    }
    PyObject *t0_int = PyLong_FromLongLong(t0);
    PyObject *urb_len_int = PyLong_FromSsize_t(urb_len);
    PyObject *done = NULL;
    if (t0_int != NULL && urb_len_int != NULL) {
        done = PyObject_CallFunctionObjArgs(state->failed, value ? value : Py_None, t0_int, ep,
                                            urb_len_int, data, NULL);
    }
    Py_XDECREF(t0_int);
    Py_XDECREF(urb_len_int);
    if (done == NULL) { /* logging the failure failed: that error goes up, chained to the first */
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(traceback);
        return NULL;
    }
    Py_DECREF(done);
    PyErr_Restore(type, value, traceback);
    return NULL;
}

static Py_ssize_t caprec_buffer_bytes(PyObject *buffer)
{
    Py_buffer view;
    if (PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)) {
        return -1;
    }
    Py_ssize_t len = view.len;
    PyBuffer_Release(&view);
    return len;
}

/* The state of a recorded transfer called with `nargs` arguments; NULL with an exception set when
 * they are not IBackend's five (dev_handle, ep, intf, data or buffer, timeout). */
static caprec_state *caprec_called(PyObject *self, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "a recorded transfer takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    return PyCapsule_GetPointer(self, CAPREC_CAPSULE);
}

/* read(dev_handle, ep, intf, buff, timeout): receive(dev_handle, ep, buff, timeout) returns the
 * bytes the link delivered (now also at the start of buff); logged as they are. */
static PyObject *caprec_read(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    caprec_state *state = caprec_called(self, nargs);
    if (state == NULL) {
        return NULL;
    }
    PyObject *ep = args[1];
    Py_ssize_t urb_len = caprec_buffer_bytes(args[3]);
    if (urb_len < 0) {
        return NULL;
    }
    PyObject *call[4] = {args[0], ep, args[3], args[4]};
    int64_t t0 = caprec_now();
    PyObject *data = PyObject_Vectorcall(state->transfer, call, 4, NULL);
    if (data == NULL) {
        return caprec_raise(state, t0, ep, urb_len, Py_None);
    }
    int64_t t1 = caprec_now();
    if (!PyBytes_CheckExact(data)) {
        PyObject *copy = PyBytes_FromObject(data);
        Py_DECREF(data);
        if (copy == NULL) {
            return NULL;
        }
        data = copy;
    }
    PyObject *n = caprec_size(state, 1, PyBytes_GET_SIZE(data));
    if (n == NULL || caprec_log(state, t0, t1, ep, urb_len, n, data)
        || caprec_charge(state, PyBytes_GET_SIZE(data))) {
        Py_XDECREF(n);
        Py_DECREF(data);
        return NULL;
    }
    Py_DECREF(data);
    return n;
}

/* write(dev_handle, ep, intf, data, timeout): send(dev_handle, ep, payload, timeout) with the
 * data's bytes, which are logged. */
static PyObject *caprec_write(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    caprec_state *state = caprec_called(self, nargs);
    if (state == NULL) {
        return NULL;
    }
    PyObject *ep = args[1];
    PyObject *payload = PyBytes_FromObject(args[3]);
    if (payload == NULL) {
        return NULL;
    }
    PyObject *call[4] = {args[0], ep, payload, args[4]};
    int64_t t0 = caprec_now();
    PyObject *n = PyObject_Vectorcall(state->transfer, call, 4, NULL);
    if (n == NULL) {
        PyObject *raised = caprec_raise(state, t0, ep, 0, payload);
        Py_DECREF(payload);
        return raised;
    }
    int64_t t1 = caprec_now();
    Py_ssize_t sent = PyLong_AsSsize_t(n);
    if ((sent == -1 && PyErr_Occurred()) || caprec_log(state, t0, t1, ep, 0, n, payload)
        || caprec_charge(state, sent)) {
        Py_DECREF(n);
        Py_DECREF(payload);
        return NULL;
    }
    Py_DECREF(payload);
    return n;
}

static PyMethodDef caprec_read_def = {"recorded_read", (PyCFunction)(void (*)(void))caprec_read,
                                      METH_FASTCALL, "A link IN transfer, recorded."};
static PyMethodDef caprec_write_def = {"recorded_write", (PyCFunction)(void (*)(void))caprec_write,
                                       METH_FASTCALL, "A link OUT transfer, recorded."};

/* A recorded link transfer (is_in: a read through `transfer` = receive, else a write through
 * `transfer` = send) that logs into `log` with entry code `code`, counting against `room` (a
 * writable int64[1] buffer held until the function is freed). */
PyObject *caprec_new(PyObject *transfer, PyObject *log, long long code, PyObject *spill,
                          PyObject *failed, PyObject *room, int is_in)
{
    if (!PyList_Check(log)) {
        PyErr_SetString(PyExc_TypeError, "recorder: the log must be a list");
        return NULL;
    }
    caprec_state *state = PyMem_Calloc(1, sizeof *state);
    if (state == NULL) {
        return PyErr_NoMemory();
    }
    if (PyObject_GetBuffer(room, &state->room, PyBUF_WRITABLE)) {
        PyMem_Free(state);
        return NULL;
    }
    if (state->room.len != (Py_ssize_t)sizeof(int64_t)) {
        PyBuffer_Release(&state->room);
        PyMem_Free(state);
        PyErr_SetString(PyExc_ValueError, "recorder: room must be one int64");
        return NULL;
    }
    state->code = PyLong_FromLongLong(code);
    if (state->code == NULL) {
        PyBuffer_Release(&state->room);
        PyMem_Free(state);
        return NULL;
    }
    Py_INCREF(transfer);
    Py_INCREF(log);
    Py_INCREF(spill);
    Py_INCREF(failed);
    state->transfer = transfer;
    state->log = log;
    state->spill = spill;
    state->failed = failed;
    PyObject *capsule = PyCapsule_New(state, CAPREC_CAPSULE, caprec_free);
    if (capsule == NULL) {
        PyBuffer_Release(&state->room);
        Py_DECREF(state->code);
        Py_DECREF(transfer);
        Py_DECREF(log);
        Py_DECREF(spill);
        Py_DECREF(failed);
        PyMem_Free(state);
        return NULL;
    }
    PyObject *function = PyCFunction_New(is_in ? &caprec_read_def : &caprec_write_def, capsule);
    Py_DECREF(capsule);
    return function;
}
