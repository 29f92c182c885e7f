// SPDX-License-Identifier: GPL-2.0

//! Module parameters (`/sys/module/baton/parameters/*`) with range checks.
//!
//! The 6.12 `module!` macro has no parameters, so [`uint_params!`] emits the
//! `__param` section entries that `module_param_cb()` would, with `set`/`get`
//! callbacks that validate the value and store it in an atomic.

use core::sync::atomic::{AtomicU32, Ordering};

use kernel::{
    ffi::{c_char, c_int},
    prelude::*,
    str::CStr,
};

use crate::bindings as b;

/// An unsigned tunable with an inclusive valid range.
pub(crate) struct UintParam {
    name: &'static str,
    value: AtomicU32,
    min: u32,
    max: u32,
}

impl UintParam {
    /// A parameter with a default and an inclusive range.
    pub(crate) const fn new(name: &'static str, default: u32, min: u32, max: u32) -> Self {
        Self {
            name,
            value: AtomicU32::new(default),
            min,
            max,
        }
    }

    /// The current value.
    #[inline]
    pub(crate) fn get(&self) -> u32 {
        self.value.load(Ordering::Relaxed)
    }

    /// Validates and stores a value written by the operator.
    pub(crate) fn set_from_str(&self, text: &[u8]) -> Result {
        let Some(v) = parse_u32(text) else {
            pr_warn!("parameter {}: not a decimal number\n", self.name);
            return Err(EINVAL);
        };
        if v < self.min || v > self.max {
            pr_warn!(
                "parameter {}: {} is outside {}..={}\n",
                self.name,
                v,
                self.min,
                self.max
            );
            return Err(ERANGE);
        }
        self.value.store(v, Ordering::Relaxed);
        Ok(())
    }

    /// The valid range.
    pub(crate) fn range(&self) -> (u32, u32) {
        (self.min, self.max)
    }
}

/// Parses a decimal `u32`, allowing one trailing newline (as `echo` writes).
pub(crate) fn parse_u32(text: &[u8]) -> Option<u32> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() || text.len() > 10 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in text {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(v)
}

/// Formats `v` and a newline into `out`, returning the length.
fn format_u32(mut v: u32, out: &mut [u8; 12]) -> usize {
    let mut digits = [0u8; 10];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = digits[n - 1 - i];
    }
    out[n] = b'\n';
    n + 1
}

/// A `struct kernel_param` that may live in a `static`.
///
/// Unlike the registrations of the other wrappers, it needs no `Opaque`:
/// the kernel only reads it (C declares its `__param` entries `const`).
#[repr(transparent)]
pub(crate) struct ParamEntry(pub(crate) b::kernel_param);

// SAFETY: the entry is immutable after load; its pointers refer to statics.
unsafe impl Sync for ParamEntry {}

/// A `struct kernel_param_ops` that may live in a `static`.
#[repr(transparent)]
pub(crate) struct ParamOps(pub(crate) b::kernel_param_ops);

// SAFETY: immutable table of function pointers.
unsafe impl Sync for ParamOps {}

/// The callbacks of every [`UintParam`].
pub(crate) static UINT_OPS: ParamOps = ParamOps(b::kernel_param_ops {
    flags: 0,
    set: Some(uint_set),
    get: Some(uint_get),
    free: None,
});

/// Sets a [`UintParam`] from the text written to it.
///
/// # Safety
///
/// `kp` must be one of our [`ParamEntry`]s (see `uint_params!`), and `val`
/// null or a NUL-terminated string (the kernel's call of [`UINT_OPS`]).
unsafe extern "C" fn uint_set(val: *const c_char, kp: *const b::kernel_param) -> c_int {
    if val.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: `kp` is one of our `ParamEntry`s, whose `arg` points at a
    // `'static UintParam` (see `uint_params!`).
    let param = unsafe { &*((*kp).__bindgen_anon_1.arg as *const UintParam) };
    // SAFETY: the kernel passes a NUL-terminated string.
    let text = unsafe { CStr::from_char_ptr(val) };
    match param.set_from_str(text.as_bytes()) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Writes a [`UintParam`]'s value as text.
///
/// # Safety
///
/// `kp` must be one of our [`ParamEntry`]s (see `uint_params!`), and
/// `buffer` a page-sized buffer (the kernel's call of [`UINT_OPS`]).
unsafe extern "C" fn uint_get(buffer: *mut c_char, kp: *const b::kernel_param) -> c_int {
    // SAFETY: as in `uint_set`.
    let param = unsafe { &*((*kp).__bindgen_anon_1.arg as *const UintParam) };
    let mut text = [0u8; 12];
    let len = format_u32(param.get(), &mut text);
    // SAFETY: the kernel's buffer is a page (PAGE_SIZE >= 4096 bytes), far
    // more than the 12 bytes we copy.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), buffer, len) };
    len as c_int
}

/// Copies a string into a fixed-size array (for `.modinfo` entries).
pub(crate) const fn modinfo<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N && i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Declares unsigned module parameters:
///
/// ```ignore
/// uint_params! {
///     /// Doc.
///     conn_table_max: "description" = 65536, 16..=16777216;
/// }
/// ```
///
/// Each becomes a `static UintParam` named like the parameter, a `__param`
/// section entry (mode 0644) and `parm`/`parmtype` `.modinfo` strings.
macro_rules! uint_params {
    ($($(#[$attr:meta])* $name:ident : $desc:literal = $default:expr, $min:literal ..= $max:literal;)*) => {
        $(
            $(#[$attr])*
            #[allow(non_upper_case_globals)]
            pub(crate) static $name: $crate::wrap::param::UintParam =
                $crate::wrap::param::UintParam::new(stringify!($name), $default, $min, $max);

            const _: () = {
                // `module` is opaque here: only its address is used.
                #[allow(improper_ctypes)]
                // `module` is opaque here: only its address is used.
                #[allow(improper_ctypes)]
                extern "C" {
                    static __this_module: ::kernel::types::Opaque<::kernel::bindings::module>;
                }

                #[link_section = "__param"]
                #[used]
                static ENTRY: $crate::wrap::param::ParamEntry =
                    $crate::wrap::param::ParamEntry($crate::bindings::kernel_param {
                        name: concat!(stringify!($name), "\0").as_ptr().cast(),
                        // SAFETY: taking the address of the module object the
                        // loader creates; it is not read here.
                        mod_: unsafe { __this_module.get() },
                        ops: &$crate::wrap::param::UINT_OPS.0,
                        perm: 0o644,
                        level: -1,
                        flags: 0,
                        __bindgen_anon_1: $crate::bindings::kernel_param__bindgen_ty_1 {
                            arg: &$name as *const $crate::wrap::param::UintParam
                                as *mut ::core::ffi::c_void,
                        },
                    });

                const PARM: &str = concat!("parm=", stringify!($name), ":", $desc, "\0");
                #[link_section = ".modinfo"]
                #[used]
                static PARM_INFO: [u8; PARM.len()] = $crate::wrap::param::modinfo(PARM);

                const PARMTYPE: &str = concat!("parmtype=", stringify!($name), ":uint\0");
                #[link_section = ".modinfo"]
                #[used]
                static PARMTYPE_INFO: [u8; PARMTYPE.len()] =
                    $crate::wrap::param::modinfo(PARMTYPE);
            };
        )*
    };
}
pub(crate) use uint_params;
