// SPDX-License-Identifier: GPL-2.0

//! Generic netlink: a family with strict attribute policies, requests with
//! typed attribute access and extended-ack errors, replies and dumps.

use core::{
    convert::Infallible,
    ffi::{c_int, CStr},
    pin::Pin,
    ptr::NonNull,
};

use kernel::{alloc::KBox, error::to_result, init, prelude::*, types::Opaque};

use super::netdev::Net;
use crate::bindings as b;

/// A netlink attribute type for the policy table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AttrType {
    /// 8-bit unsigned.
    U8,
    /// 16-bit unsigned.
    U16,
    /// 32-bit unsigned.
    U32,
    /// 64-bit unsigned.
    U64,
    /// Binary blob of at most `n` bytes (`0`: any length).
    Binary(u16),
    /// Binary blob of exactly `n` bytes (the spec's `exact-len`).
    BinaryExact(i16),
    /// NUL-terminated string of at most `n` bytes (without NUL).
    String(u16),
    /// Flag (no payload).
    Flag,
    /// Nested attributes (not accepted in requests: reply-only).
    Nested,
}

/// An error for the requester: an errno and, when there is something to
/// say, a message (static: the kernel keeps the pointer) and the offending
/// attribute.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NlError {
    errno: Error,
    msg: Option<&'static CStr>,
    attr: Option<u16>,
}

impl NlError {
    /// An error with a message.
    pub(crate) fn new(errno: Error, msg: &'static CStr) -> Self {
        Self {
            errno,
            msg: Some(msg),
            attr: None,
        }
    }

    /// The errno (positive), as the requester sees it.
    pub(crate) fn errno(&self) -> i32 {
        -self.errno.to_errno()
    }

    /// The message for the requester.
    pub(crate) fn message(&self) -> Option<&'static str> {
        self.msg.and_then(|m| m.to_str().ok())
    }

    /// The attribute the error points at.
    pub(crate) fn attr(&self) -> Option<u16> {
        self.attr
    }

    /// Points the error at attribute `attr` of the request.
    pub(crate) fn at(mut self, attr: u16) -> Self {
        self.attr = Some(attr);
        self
    }
}

/// `EMSGSIZE`, not among the kernel crate's error codes in 6.12.
fn emsgsize() -> Error {
    Error::from_errno(-(kernel::bindings::EMSGSIZE as c_int))
}

/// `EOPNOTSUPP`, as above.
fn eopnotsupp() -> Error {
    Error::from_errno(-(kernel::bindings::EOPNOTSUPP as c_int))
}

impl NlError {
    /// The message did not fit its buffer.
    pub(crate) fn msgsize() -> Self {
        Self {
            errno: emsgsize(),
            msg: None,
            attr: None,
        }
    }
}

impl From<Error> for NlError {
    fn from(e: Error) -> Self {
        Self {
            errno: e,
            msg: None,
            attr: None,
        }
    }
}

/// The attributes of a request, validated against the family's policy
/// (type and maximum length) by the netlink core before the handler runs.
///
/// # Invariants
///
/// `table` has `max + 1` entries, each null or pointing to an attribute
/// that passed the policy, valid for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct Attrs<'a> {
    table: *const *mut b::nlattr,
    max: u16,
    _life: core::marker::PhantomData<&'a b::nlattr>,
}

/// Builds attributes the way the netlink core lays them out, for tests of
/// the handlers' attribute reading.
#[cfg(CONFIG_KUNIT)]
pub(crate) struct AttrBuilder {
    bufs: [[u8; 4 + 64]; MAX_ATTRS + 1],
    present: [bool; MAX_ATTRS + 1],
    table: [*mut b::nlattr; MAX_ATTRS + 1],
}

#[cfg(CONFIG_KUNIT)]
impl AttrBuilder {
    /// No attributes.
    pub(crate) fn new() -> Self {
        Self {
            bufs: [[0; 4 + 64]; MAX_ATTRS + 1],
            present: [false; MAX_ATTRS + 1],
            table: [core::ptr::null_mut(); MAX_ATTRS + 1],
        }
    }

    /// Adds attribute `attr` with `payload` (at most 64 bytes).
    pub(crate) fn put(&mut self, attr: u16, payload: &[u8]) {
        let (Some(buf), Some(present)) = (
            self.bufs.get_mut(usize::from(attr)),
            self.present.get_mut(usize::from(attr)),
        ) else {
            return;
        };
        let n = payload.len().min(64);
        buf[..2].copy_from_slice(&((4 + n) as u16).to_ne_bytes());
        buf[2..4].copy_from_slice(&attr.to_ne_bytes());
        buf[4..4 + n].copy_from_slice(&payload[..n]);
        *present = true;
    }

    /// The attributes added so far.
    pub(crate) fn attrs(&mut self) -> Attrs<'_> {
        for ((slot, buf), present) in self
            .table
            .iter_mut()
            .zip(self.bufs.iter_mut())
            .zip(self.present)
        {
            *slot = if present {
                buf.as_mut_ptr().cast()
            } else {
                core::ptr::null_mut()
            };
        }
        // INVARIANT: `MAX_ATTRS + 1` entries, each null or pointing at a
        // buffer holding a header whose `nla_len` covers only the buffer;
        // the buffers are borrowed with `self`.
        Attrs {
            table: self.table.as_ptr(),
            max: MAX_ATTRS as u16,
            _life: core::marker::PhantomData,
        }
    }
}

impl<'a> Attrs<'a> {
    fn raw(&self, attr: u16) -> Option<NonNull<b::nlattr>> {
        if self.table.is_null() || attr > self.max {
            return None;
        }
        // SAFETY: `attr <= max`, inside the table (type invariant).
        NonNull::new(unsafe { *self.table.add(usize::from(attr)) })
    }

    /// The payload of attribute `attr`, if present.
    pub(crate) fn bytes(&self, attr: u16) -> Option<&'a [u8]> {
        let nla = self.raw(attr)?;
        // SAFETY: a present attribute is a valid `nlattr` whose `nla_len`
        // bytes (header included) lie inside the request (type invariant).
        unsafe {
            let len = usize::from((*nla.as_ptr()).nla_len);
            let hdr = core::mem::size_of::<b::nlattr>();
            let payload = (nla.as_ptr() as *const u8).add(hdr);
            Some(core::slice::from_raw_parts(payload, len.checked_sub(hdr)?))
        }
    }

    /// Whether attribute `attr` is present.
    pub(crate) fn has(&self, attr: u16) -> bool {
        self.raw(attr).is_some()
    }

    /// A `u8` attribute.
    pub(crate) fn u8(&self, attr: u16) -> Option<u8> {
        self.bytes(attr)?.first().copied()
    }

    /// A `u16` attribute (host byte order).
    pub(crate) fn u16(&self, attr: u16) -> Option<u16> {
        Some(u16::from_ne_bytes(*self.bytes(attr)?.first_chunk()?))
    }

    /// A `u32` attribute (host byte order).
    pub(crate) fn u32(&self, attr: u16) -> Option<u32> {
        Some(u32::from_ne_bytes(*self.bytes(attr)?.first_chunk()?))
    }

    /// A fixed-size binary attribute; present with another size is an error.
    pub(crate) fn array<const N: usize>(&self, attr: u16) -> Result<Option<[u8; N]>, NlError> {
        match self.bytes(attr) {
            None => Ok(None),
            Some(b) => b
                .try_into()
                .map(Some)
                .map_err(|_| NlError::new(EINVAL, c"attribute has the wrong length").at(attr)),
        }
    }

    /// A string attribute, without its NUL.
    pub(crate) fn str(&self, attr: u16) -> Option<&'a [u8]> {
        let b = self.bytes(attr)?;
        Some(b.split(|&c| c == 0).next().unwrap_or(b))
    }
}

/// A request being handled (`doit`).
pub(crate) struct Request<'a> {
    info: &'a b::genl_info,
    family: &'a Inner,
}

impl<'a> Request<'a> {
    /// The command number.
    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: `genlhdr` points into the request, valid for `'a`.
        unsafe { (*self.info.genlhdr).cmd }
    }

    /// The requester's network namespace, alive while the request is
    /// handled (`'a`).
    pub(crate) fn net(&self) -> Net<'a> {
        // SAFETY: `genl_info_net` is the namespace of the requesting socket,
        // which holds a reference to it (`sk_alloc` of a user socket) and
        // outlives the request's handling, `'a`.
        unsafe { Net::from_raw(b::baton_genl_info_net(self.info)) }
    }

    /// The request's attributes.
    pub(crate) fn attrs(&self) -> Attrs<'a> {
        // INVARIANT: the netlink core parsed the request into `attrs`, a
        // table of `maxattr + 1` entries validated against the policy.
        Attrs {
            table: self.info.attrs,
            max: self.family.maxattr,
            _life: core::marker::PhantomData,
        }
    }

    /// Starts the reply to this request, for command `cmd`.
    pub(crate) fn reply(&self, cmd: u8) -> Result<Message<'a>, NlError> {
        // SAFETY: allocation; null on failure.
        let skb = NonNull::new(unsafe { b::baton_genlmsg_new() }).ok_or(ENOMEM)?;
        let info = self.info as *const b::genl_info as *mut b::genl_info;
        // SAFETY: `skb` is a fresh message; `info` and `family` are valid.
        let hdr = unsafe {
            b::baton_genlmsg_put_reply(skb.as_ptr(), info, self.family.family.get(), 0, cmd)
        };
        if hdr.is_null() {
            // SAFETY: we own `skb` and nothing else refers to it.
            unsafe { b::baton_nlmsg_free(skb.as_ptr()) };
            return Err(NlError::msgsize());
        }
        Ok(Message {
            skb,
            hdr,
            info: Some(info),
            owned: true,
            open: true,
            _life: core::marker::PhantomData,
        })
    }
}

/// A message being built: a reply (owned, sent by [`Message::send`]) or a
/// dump entry (inside the dump's buffer, closed by [`Message::end`]; one
/// dropped unclosed is cancelled, so a failure half-way through an entry
/// leaves no partial entry in the dump).
///
/// # Invariants
///
/// `hdr` is the genetlink header put into `skb`; when `owned`, we own `skb`;
/// `open` until the header is ended.
pub(crate) struct Message<'a> {
    skb: NonNull<b::sk_buff>,
    hdr: *mut core::ffi::c_void,
    info: Option<*mut b::genl_info>,
    owned: bool,
    open: bool,
    _life: core::marker::PhantomData<&'a ()>,
}

/// An open nest inside a [`Message`].
pub(crate) struct Nest(NonNull<b::nlattr>);

impl Message<'_> {
    fn put(&mut self, attr: u16, data: &[u8]) -> Result<(), NlError> {
        let len = c_int::try_from(data.len()).map_err(|_| NlError::msgsize())?;
        // SAFETY: `skb` is a message under construction (type invariant);
        // `data` is readable for `len` bytes.
        let r = unsafe {
            b::nla_put(
                self.skb.as_ptr(),
                c_int::from(attr),
                len,
                data.as_ptr().cast(),
            )
        };
        to_result(r).map_err(NlError::from)
    }

    /// Adds a `u8` attribute.
    pub(crate) fn put_u8(&mut self, attr: u16, v: u8) -> Result<(), NlError> {
        self.put(attr, &[v])
    }

    /// Adds a `u16` attribute.
    pub(crate) fn put_u16(&mut self, attr: u16, v: u16) -> Result<(), NlError> {
        self.put(attr, &v.to_ne_bytes())
    }

    /// Adds a `u32` attribute.
    pub(crate) fn put_u32(&mut self, attr: u16, v: u32) -> Result<(), NlError> {
        self.put(attr, &v.to_ne_bytes())
    }

    /// Adds a `u64` attribute.
    pub(crate) fn put_u64(&mut self, attr: u16, v: u64) -> Result<(), NlError> {
        self.put(attr, &v.to_ne_bytes())
    }

    /// Adds a binary attribute.
    pub(crate) fn put_bytes(&mut self, attr: u16, v: &[u8]) -> Result<(), NlError> {
        self.put(attr, v)
    }

    /// Adds a NUL-terminated string attribute: `v` whole, then the NUL.
    pub(crate) fn put_str(&mut self, attr: u16, v: &str) -> Result<(), NlError> {
        let len = v
            .len()
            .checked_add(1)
            .and_then(|n| c_int::try_from(n).ok())
            .ok_or(NlError::msgsize())?;
        // SAFETY: `skb` is a message under construction (type invariant);
        // the payload returned has room for `len` bytes, or is null.
        let dst = unsafe { b::baton_nla_reserve(self.skb.as_ptr(), c_int::from(attr), len) };
        let dst = NonNull::new(dst.cast::<u8>()).ok_or(NlError::msgsize())?;
        // SAFETY: `dst` has `v.len() + 1` writable bytes, apart from `v`.
        unsafe {
            core::ptr::copy_nonoverlapping(v.as_ptr(), dst.as_ptr(), v.len());
            dst.as_ptr().add(v.len()).write(0);
        }
        Ok(())
    }

    /// Adds a flag attribute.
    pub(crate) fn put_flag(&mut self, attr: u16) -> Result<(), NlError> {
        self.put(attr, &[])
    }

    /// Opens a nest.
    pub(crate) fn nest(&mut self, attr: u16) -> Result<Nest, NlError> {
        // SAFETY: `skb` is a message under construction.
        let start = unsafe { b::baton_nla_nest_start(self.skb.as_ptr(), c_int::from(attr)) };
        NonNull::new(start).map(Nest).ok_or(NlError::msgsize())
    }

    /// Closes a nest.
    pub(crate) fn end_nest(&mut self, nest: Nest) {
        // SAFETY: `nest` was opened in this message.
        unsafe { b::baton_nla_nest_end(self.skb.as_ptr(), nest.0.as_ptr()) };
    }

    /// Finishes a reply and sends it to the requester.
    pub(crate) fn send(mut self) -> Result<(), NlError> {
        let info = self.info.take().ok_or(EINVAL)?;
        // SAFETY: `hdr` belongs to `skb` (type invariant).
        unsafe { b::baton_genlmsg_end(self.skb.as_ptr(), self.hdr) };
        self.open = false;
        self.owned = false;
        // SAFETY: `genlmsg_reply` consumes the skb, success or not.
        to_result(unsafe { b::baton_genlmsg_reply(self.skb.as_ptr(), info) }).map_err(NlError::from)
    }

    /// Closes a dump entry.
    pub(crate) fn end(mut self) {
        // SAFETY: `hdr` belongs to `skb` (type invariant).
        unsafe { b::baton_genlmsg_end(self.skb.as_ptr(), self.hdr) };
        self.open = false;
    }

    /// Removes an unfinished dump entry (the buffer was full): what
    /// dropping it does.
    pub(crate) fn cancel(self) {
        drop(self);
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: we still own the reply (not sent).
            unsafe { b::baton_nlmsg_free(self.skb.as_ptr()) };
        } else if self.open {
            // SAFETY: `hdr` belongs to `skb` (type invariant), the dump's
            // buffer, which outlives this entry; cancelling trims the
            // buffer back to before the entry.
            unsafe { b::baton_genlmsg_cancel(self.skb.as_ptr(), self.hdr) };
        }
    }
}

/// A dump in progress: entries go into the netlink buffer until it is full;
/// `cursor` says where the next call resumes.
pub(crate) struct Dump<'a> {
    skb: NonNull<b::sk_buff>,
    cb: &'a mut b::netlink_callback,
    family: &'a Inner,
    info: &'a b::genl_info,
}

impl<'a> Dump<'a> {
    /// The requester's network namespace, alive while the dump call runs
    /// (`'a`).
    pub(crate) fn net(&self) -> Net<'a> {
        // SAFETY: the namespace of the dumping socket, which holds a
        // reference to it and outlives every call of its dump, `'a`.
        unsafe { Net::from_raw(b::baton_cb_net(core::ptr::addr_of!(*self.cb) as *mut _)) }
    }

    /// The command number.
    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: `genlhdr` points into the request, valid for `'a`.
        unsafe { (*self.info.genlhdr).cmd }
    }

    /// The dump request's attributes (filters).
    pub(crate) fn attrs(&self) -> Attrs<'a> {
        // INVARIANT: as for `Request::attrs`.
        Attrs {
            table: self.info.attrs,
            max: self.family.maxattr,
            _life: core::marker::PhantomData,
        }
    }

    /// Where to resume: the number of entries already dumped.
    pub(crate) fn cursor(&self) -> usize {
        // SAFETY: genetlink leaves `args` to the dump callback; the union
        // member is plain integers.
        (unsafe { self.cb.__bindgen_anon_1.args[0] }) as usize
    }

    /// Records progress.
    pub(crate) fn set_cursor(&mut self, c: usize) {
        // SAFETY: as in `cursor`.
        unsafe { self.cb.__bindgen_anon_1.args[0] = c as _ };
    }

    /// Starts an entry for command `cmd`; `None` when the buffer is full.
    pub(crate) fn entry(&mut self, cmd: u8) -> Option<Message<'_>> {
        // SAFETY: `skb` is the dump buffer, `cb` and `family` are valid.
        let hdr = unsafe {
            b::baton_genlmsg_put_dump(self.skb.as_ptr(), self.cb, self.family.family.get(), cmd)
        };
        if hdr.is_null() {
            return None;
        }
        Some(Message {
            skb: self.skb,
            hdr,
            info: None,
            owned: false,
            open: true,
            _life: core::marker::PhantomData,
        })
    }

    fn len(&self) -> c_int {
        // SAFETY: `skb` is the dump buffer.
        unsafe { b::baton_skb_len(self.skb.as_ptr()) as c_int }
    }
}

/// An operation's request handler.
pub(crate) type DoFn = fn(&Request<'_>) -> Result<(), NlError>;
/// An operation's dump handler; returns whether the dump is complete.
pub(crate) type DumpFn = fn(&mut Dump<'_>) -> Result<bool, NlError>;

/// One operation of a family.
pub(crate) struct Op {
    /// Command number.
    pub(crate) cmd: u8,
    /// Needs `CAP_NET_ADMIN`.
    pub(crate) admin: bool,
    /// Handles a request.
    pub(crate) doit: Option<DoFn>,
    /// Produces a dump; returns whether it is complete.
    pub(crate) dumpit: Option<DumpFn>,
}

const MAX_OPS: usize = 32;
/// Attributes a family may define (its policy table has one more entry).
pub(crate) const MAX_ATTRS: usize = 64;

/// A family with its operation and policy tables, in one pinned allocation.
///
/// # Invariants
///
/// `family` points at `small_ops`, whose first `n_small_ops` entries are
/// the operations of `ops` (trampolines for those with handlers), and at
/// `policy`, whose entries `1..=maxattr` are the attribute types; `family`
/// has `maxattr` attributes. The generic netlink core writes `family` (its
/// id, the offset of its multicast groups) and keeps a pointer to it while it
/// is registered, so Rust only reaches it through [`Opaque::get`]. The
/// tables are not written after initialisation.
#[pin_data]
struct Inner {
    #[pin]
    family: Opaque<b::genl_family>,
    small_ops: [b::genl_small_ops; MAX_OPS],
    policy: [b::nla_policy; MAX_ATTRS + 1],
    ops: &'static [Op],
    maxattr: u16,
}

impl Inner {
    /// The `Inner` of a registered family, from the family pointer the core
    /// passes to an operation.
    ///
    /// # Safety
    ///
    /// `family` must be the `family` of the `Inner` of a [`Family`] that
    /// stays registered for `'a` (so only our trampolines may pass it).
    unsafe fn of_family<'a>(family: *const b::genl_family) -> &'a Inner {
        // SAFETY: `family` is the `family` of a pinned `Inner` alive for `'a`
        // (caller), so stepping back to the `Inner` stays in its allocation.
        // The shared reference covers `family` only as an `Opaque`.
        unsafe { &*kernel::container_of!(family, Inner, family) }
    }

    /// The operation of command `cmd`.
    fn op(&self, cmd: u8) -> Option<&'static Op> {
        self.ops.iter().find(|o| o.cmd == cmd)
    }
}

/// A registered generic netlink family; unregistered on drop.
///
/// # Invariants
///
/// `inner.family` is registered until `drop`; `inner` is pinned, so the
/// family and its tables have stable addresses while the core holds them.
pub(crate) struct Family {
    inner: Pin<KBox<Inner>>,
}

// SAFETY: after registration the family is only used by the netlink core,
// which serialises its own access; the tables and `ops` are immutable.
unsafe impl Send for Family {}
// SAFETY: as above.
unsafe impl Sync for Family {}

fn policy_entry(t: AttrType) -> b::nla_policy {
    let mut p = b::nla_policy::default();
    let (ty, len) = match t {
        AttrType::U8 => (b::NLA_U8, 0),
        AttrType::U16 => (b::NLA_U16, 0),
        AttrType::U32 => (b::NLA_U32, 0),
        AttrType::U64 => (b::NLA_U64, 0),
        AttrType::Binary(n) => (b::NLA_BINARY, n),
        AttrType::BinaryExact(n) => {
            // As C's NLA_POLICY_EXACT_LEN(n): a length range of n..=n, in
            // the union member `struct { s16 min, max; }`. Like every
            // member it starts the union, so it is written as the first
            // bytes of the union's storage (`bindgen_union_field`), which
            // needs no unsafe.
            p.validation_type = b::nla_policy_validation_NLA_VALIDATE_RANGE as u8;
            let n = n.to_ne_bytes();
            // min, max, then the rest of the storage.
            p.__bindgen_anon_1.bindgen_union_field =
                u64::from_ne_bytes([n[0], n[1], n[0], n[1], 0, 0, 0, 0]);
            (b::NLA_BINARY, 0)
        }
        AttrType::String(n) => (b::NLA_NUL_STRING, n),
        AttrType::Flag => (b::NLA_FLAG, 0),
        // Replies only: a request carrying it is rejected by the core.
        AttrType::Nested => (b::NLA_REJECT, 0),
    };
    p.type_ = ty as u8;
    p.len = len;
    p
}

/// The table entry of operation `op`.
fn small_op(op: &Op) -> b::genl_small_ops {
    b::genl_small_ops {
        cmd: op.cmd,
        flags: if op.admin {
            b::GENL_ADMIN_PERM as u8
        } else {
            0
        },
        doit: op.doit.map(|_| doit_trampoline as _),
        dumpit: op.dumpit.map(|_| dumpit_trampoline as _),
        ..Default::default()
    }
}

impl Family {
    /// Registers family `name` (NUL-terminated) with attribute types
    /// `attrs[i]` for attribute `i + 1` and operations `ops`, for every
    /// network namespace. Operations are serialised (no parallel ops).
    pub(crate) fn register(
        name: &[u8],
        version: u8,
        attrs: &[AttrType],
        ops: &'static [Op],
        module: &'static ThisModule,
    ) -> Result<Self> {
        if ops.len() > MAX_OPS || attrs.len() > MAX_ATTRS || name.len() > b::GENL_NAMSIZ as usize {
            return Err(EINVAL);
        }
        // Initialised in place on the heap: the family with its operation
        // and policy tables is over 2 KiB, too much to build on the stack of
        // `insmod` (and then move).
        let inner = KBox::pin_init(
            pin_init!(Inner {
                family <- Opaque::ffi_init(|slot: *mut b::genl_family| {
                    // SAFETY: `slot` is the `family` of the `Inner` being
                    // initialised in place, so stepping back to the `Inner`
                    // and on to its tables stays in the allocation; only the
                    // addresses are taken (the tables are written next).
                    let (small_ops, policy) = unsafe {
                        let inner = kernel::container_of!(slot, Inner, family);
                        (
                            core::ptr::addr_of!((*inner).small_ops).cast::<b::genl_small_ops>(),
                            core::ptr::addr_of!((*inner).policy).cast::<b::nla_policy>(),
                        )
                    };
                    let mut family = b::genl_family {
                        version: u32::from(version),
                        maxattr: attrs.len() as u32,
                        n_small_ops: ops.len() as u8,
                        // Strict validation (unknown attributes, trailing
                        // data rejected) for every command.
                        resv_start_op: ops
                            .iter()
                            .map(|o| o.cmd)
                            .max()
                            .unwrap_or(0)
                            .saturating_add(1),
                        module: module.as_ptr(),
                        small_ops,
                        policy,
                        ..Default::default()
                    };
                    for (d, s) in family.name.iter_mut().zip(name.iter()) {
                        *d = *s as _;
                    }
                    family.set_netnsok(1);
                    family.set_parallel_ops(0);
                    // SAFETY: `slot` is valid for writes.
                    unsafe { slot.write(family) };
                }),
                small_ops <- init::init_array_from_fn::<_, MAX_OPS, _, Infallible>(|i| {
                    ops.get(i).map_or_else(Default::default, small_op)
                }),
                policy <- init::init_array_from_fn::<_, { MAX_ATTRS + 1 }, _, Infallible>(|i| {
                    i.checked_sub(1)
                        .and_then(|a| attrs.get(a))
                        .map_or_else(Default::default, |t| policy_entry(*t))
                }),
                ops,
                maxattr: attrs.len() as u16,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: the family and its tables are initialised and pinned until
        // `drop` unregisters them.
        to_result(unsafe { b::genl_register_family(inner.family.get()) })?;
        // INVARIANT: registered above.
        Ok(Self { inner })
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), reached through a raw pointer:
        // an operation may hold `&Inner`, so no `&mut` to it is made.
        // Unregistering takes the genetlink locks, which every operation
        // holds while it runs (no parallel ops), so it returns once none
        // runs and none can start; later dumps are refused, and a dump in
        // progress holds a module reference. The box is freed only after
        // this function.
        unsafe { b::genl_unregister_family(self.inner.family.get()) };
    }
}

/// Sets the extended ack (null: none) from `e` and returns its errno.
fn report(extack: *mut b::netlink_ext_ack, attrs: Attrs<'_>, e: NlError) -> c_int {
    if let (false, Some(msg)) = (extack.is_null(), e.msg) {
        let attr = e
            .attr
            .and_then(|a| attrs.raw(a))
            .map_or(core::ptr::null(), |p| p.as_ptr() as *const _);
        // SAFETY: `extack` is this request's (do or dump), `msg` a static
        // C string, `attr` null or inside the request.
        unsafe { b::baton_extack_set(extack, msg.as_ptr().cast(), attr) };
    }
    e.errno.to_errno()
}

/// The `doit` of every operation of a [`Family`] that has a request handler:
/// runs the handler of the request's command.
///
/// # Safety
///
/// `info` must be a valid `genl_info` of a request to a registered
/// [`Family`] (the generic netlink core's call).
unsafe extern "C" fn doit_trampoline(_skb: *mut b::sk_buff, info: *mut b::genl_info) -> c_int {
    // SAFETY: the netlink core passes a valid `genl_info` for our family.
    let info = unsafe { &*info };
    // SAFETY: only our families have this operation, and a family stays
    // registered while its operations run (`Family::drop`).
    let family = unsafe { Inner::of_family(info.family) };
    // SAFETY: `genlhdr` points into the request.
    let cmd = unsafe { (*info.genlhdr).cmd };
    let Some(doit) = family.op(cmd).and_then(|o| o.doit) else {
        return eopnotsupp().to_errno();
    };
    let req = Request { info, family };
    match doit(&req) {
        Ok(()) => 0,
        Err(e) => report(info.extack, req.attrs(), e),
    }
}

/// The `dumpit` of every operation of a [`Family`] that has a dump handler:
/// runs the dump handler of the request's command.
///
/// # Safety
///
/// `cb` must be the valid callback of a dump of a registered [`Family`],
/// which nothing else uses during the call, and `skb` null or that dump's
/// buffer (the generic netlink core's call).
unsafe extern "C" fn dumpit_trampoline(
    skb: *mut b::sk_buff,
    cb: *mut b::netlink_callback,
) -> c_int {
    // SAFETY: the core passes our dump's callback; the dump info it carries
    // (family, attributes) is valid while the dump runs.
    let info = unsafe { &*b::baton_genl_info_dump(cb) };
    // SAFETY: `cb` is valid and nothing else uses it during the call
    // (caller).
    let (Some(skb), Some(cb)) = (NonNull::new(skb), unsafe { cb.as_mut() }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: only our families have this operation, and a family stays
    // registered while its dumps run (`Family::drop`).
    let family = unsafe { Inner::of_family(info.family) };
    // SAFETY: `genlhdr` points into the request.
    let cmd = unsafe { (*info.genlhdr).cmd };
    let Some(dumpit) = family.op(cmd).and_then(|o| o.dumpit) else {
        return eopnotsupp().to_errno();
    };
    let mut dump = Dump {
        skb,
        cb,
        family,
        info,
    };
    match dumpit(&mut dump) {
        // Entries were added: the core calls again until one returns 0.
        Ok(_) => dump.len(),
        // The core sets `cb->extack` around each call and sends what it
        // holds with the error in the dump's NLMSG_DONE.
        Err(e) => report(dump.cb.extack, dump.attrs(), e),
    }
}
