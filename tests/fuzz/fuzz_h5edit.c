/* fuzz_h5edit.h: every call checked only as far as "did it work"; a refused edit is not a
 * finding (the harness explores files, it does not test libhdf5's write path). libhdf5
 * 1.10.8 leaks object headers in some of these edits (seen in H5Lexists and H5Lmove on a
 * dataset an earlier edit created; our code never edits a file in place): allocations made
 * between fuzz_h5_open and fuzz_h5_close are not leak-checked, and HDF5's free lists are
 * off, so that a block cannot move from an edit to our readers and hide or fake a leak. */
#include "fuzz_h5edit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILLED_MAX 4096

#if defined(__SANITIZE_ADDRESS__) /* gcc */
#define FUZZ_LSAN 1
#elif defined(__has_feature) /* clang */
#if __has_feature(address_sanitizer)
#define FUZZ_LSAN 1
#endif
#endif
#ifdef FUZZ_LSAN
#include <sanitizer/lsan_interface.h>
static void leaks_unchecked(bool on) { on ? __lsan_disable() : __lsan_enable(); }
#else
static void leaks_unchecked(bool on) { (void)on; }
#endif

hid_t fuzz_h5_open(const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5set_free_list_limits(0, 0, 0, 0, 0, 0);
    leaks_unchecked(true);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        leaks_unchecked(false);
    return f;
}

void fuzz_h5_close(hid_t f)
{
    if (f < 0)
        return;
    H5Fclose(f);
    leaks_unchecked(false);
}

void fuzz_h5_delete(hid_t f, const char *name)
{
    if (H5Lexists(f, name, H5P_DEFAULT) > 0)
        H5Ldelete(f, name, H5P_DEFAULT);
}

static hid_t string_type(int64_t bytes)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, bytes > 0 ? (size_t)bytes : H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static const char *pick_string(int64_t v)
{
    static const char *const s[] = {"cnn-dist dataset", "cnn-dist dataset shard",
                                    "cnn-dist checkpoint", "raw", "encoded", "classify",
                                    "segment", "", "sgd", "adamw",
                                    "model: {layers: [{type: linear, out: 2}]}"};
    return s[(uint64_t)v % (sizeof s / sizeof *s)];
}

void fuzz_h5_attr(hid_t f, const char *obj, const char *name, int kind, int64_t v)
{
    if (H5Aexists_by_name(f, obj, name, H5P_DEFAULT) > 0)
        H5Adelete_by_name(f, obj, name, H5P_DEFAULT);
    int64_t i64[2] = {v, v};
    uint32_t u32 = (uint32_t)v;
    float f32[3] = {(float)v, 0.5f, -1.0f};
    double f64 = (double)v;
    hsize_t n = (kind & 7) == 3 ? 3 : (kind & 7) == 4 ? 2 : 1;
    hid_t sp = (kind & 7) == 3 || (kind & 7) == 4 ? H5Screate_simple(1, &n, NULL)
                                                   : H5Screate(H5S_SCALAR);
    hid_t ft, mt;
    const void *buf;
    const char *str = pick_string(v);
    char *long_str = NULL;
    switch (kind & 7) {
    case 0: case 4: ft = H5Tcopy(H5T_STD_I64LE), mt = H5Tcopy(H5T_NATIVE_INT64), buf = i64; break;
    case 1: ft = H5Tcopy(H5T_STD_U32LE), mt = H5Tcopy(H5T_NATIVE_UINT32), buf = &u32; break;
    case 2: case 3: ft = H5Tcopy(H5T_IEEE_F32LE), mt = H5Tcopy(H5T_NATIVE_FLOAT), buf = f32; break;
    case 5: ft = string_type(0), mt = string_type(0), buf = &str; break;
    case 6: {
        int64_t len = 1 + (int64_t)((uint64_t)v % 300);
        long_str = calloc((size_t)len + 1, 1);
        if (!long_str)
            abort();
        memset(long_str, 'y', (size_t)len);
        ft = string_type(len), mt = string_type(len), buf = long_str;
        break;
    }
    default: ft = H5Tcopy(H5T_IEEE_F64LE), mt = H5Tcopy(H5T_NATIVE_DOUBLE), buf = &f64; break;
    }
    hid_t a = H5Acreate_by_name(f, obj, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, mt, buf);
        H5Aclose(a);
    }
    free(long_str);
    H5Tclose(ft);
    H5Tclose(mt);
    H5Sclose(sp);
}

static void fill(hid_t d, hid_t mt, size_t elem, hsize_t n, int64_t v, bool vlen)
{
    void *buf = calloc(n ? n : 1, elem);
    if (!buf)
        abort();
    for (hsize_t i = 0; i < n; i++) {
        char *p = (char *)buf + i * elem;
        if (vlen)
            *(const char **)p = "x";
        else if (H5Tget_class(mt) == H5T_STRING)
            p[0] = 'x';
        else if (H5Tget_class(mt) == H5T_FLOAT)
            elem == 4 ? (*(float *)p = (float)v) : (*(double *)p = (double)v);
        else
            memcpy(p, &v, elem); /* little-endian: the low bytes */
    }
    H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    free(buf);
}

void fuzz_h5_dataset(hid_t f, const char *name, int kind, int64_t len, int64_t v)
{
    fuzz_h5_delete(f, name);
    static const hid_t *const files[6] = {&H5T_STD_I64LE_g, &H5T_STD_I32LE_g, &H5T_STD_U32LE_g,
                                          &H5T_STD_U8LE_g, &H5T_IEEE_F32LE_g,
                                          &H5T_IEEE_F64LE_g};
    static const hid_t *const mems[6] = {&H5T_NATIVE_LLONG_g, &H5T_NATIVE_INT_g,
                                         &H5T_NATIVE_UINT_g, &H5T_NATIVE_UCHAR_g,
                                         &H5T_NATIVE_FLOAT_g, &H5T_NATIVE_DOUBLE_g};
    static const size_t sizes[6] = {8, 4, 4, 1, 4, 8};
    int k = kind & 7;
    H5open();
    hid_t ft = k < 6 ? H5Tcopy(*files[k]) : string_type(k == 6 ? 0 : 1 + (uint64_t)v % 64);
    hid_t mt = k < 6 ? H5Tcopy(*mems[k]) : H5Tcopy(ft);
    size_t elem = k < 6 ? sizes[k] : k == 6 ? sizeof(char *) : H5Tget_size(ft);
    hsize_t n = len < 0 ? 1 : (hsize_t)len;
    if (n > ((hsize_t)1 << 40))
        n = (hsize_t)1 << 40;
    hid_t sp = len < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_LATE);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, name, ft, sp, lcpl, dcpl, H5P_DEFAULT);
    if (d >= 0) {
        if (n <= FILLED_MAX)
            fill(d, mt, elem, n, v, k == 6);
        H5Dclose(d);
    }
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(mt);
    H5Tclose(ft);
}
