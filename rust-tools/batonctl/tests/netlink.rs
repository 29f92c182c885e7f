//! The netlink transport against the host kernel's own generic netlink
//! controller (`nlctrl`), which every Linux kernel has: family resolution,
//! do / dump / ack handling and the extended ack message. No baton module
//! is needed.

use batonctl::codec::{ctrl, parse_attrs, parse_genl, put_attr};
use batonctl::nl::Conn;
use batonctl::Error;

fn conn() -> Option<Conn> {
    match Conn::open_family("nlctrl") {
        Ok(c) => Some(c),
        // No netlink in this sandbox: nothing to test.
        Err(Error::System(e)) => {
            eprintln!("skipping: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn resolves_nlctrl_and_rejects_unknown_family() {
    let Some(c) = conn() else { return };
    assert_eq!(c.family(), ctrl::GENL_ID_CTRL);
    assert_eq!(
        Conn::open_family("nosuchfamily").err(),
        Some(Error::NotLoaded)
    );
}

#[test]
fn dump_collects_every_family() {
    let Some(mut c) = conn() else { return };
    let req = [ctrl::CMD_GETFAMILY, 2, 0, 0];
    let replies = c.exchange(&req, true).expect("dump");
    let names: Vec<String> = replies
        .iter()
        .filter_map(|r| {
            let (_, attrs) = parse_genl(r).ok()?;
            let (_, p) = attrs.iter().find(|(t, _)| *t == ctrl::ATTR_FAMILY_NAME)?;
            Some(
                String::from_utf8_lossy(p)
                    .trim_end_matches('\0')
                    .to_string(),
            )
        })
        .collect();
    assert!(names.iter().any(|n| n == "nlctrl"), "{names:?}");
}

#[test]
fn do_returns_reply_then_ack() {
    let Some(mut c) = conn() else { return };
    let replies = c.exchange(&ctrl::get_family("nlctrl"), false).expect("do");
    assert_eq!(replies.len(), 1);
    assert_eq!(ctrl::family_id(&replies[0]), Ok(ctrl::GENL_ID_CTRL));
    assert!(parse_attrs(&replies[0][4..]).is_ok());
}

#[test]
fn kernel_error_carries_errno_and_extack_message() {
    let Some(mut c) = conn() else { return };
    // CTRL_ATTR_FAMILY_NAME is at most GENL_NAMSIZ (16) bytes: a longer
    // name fails the policy, and the kernel says so in the extended ack.
    let mut req = vec![ctrl::CMD_GETFAMILY, 2, 0, 0];
    put_attr(
        &mut req,
        ctrl::ATTR_FAMILY_NAME,
        b"a-family-name-longer-than-16\0",
    );
    match c.exchange(&req, false) {
        Err(Error::Kernel { errno, msg }) => {
            assert_eq!(errno, libc::EINVAL);
            let msg = msg.expect("extack message");
            assert!(!msg.is_empty());
            let shown = Error::Kernel {
                errno,
                msg: Some(msg.clone()),
            }
            .to_string();
            assert_eq!(shown, format!("{msg} (EINVAL)"));
        }
        other => panic!("expected a kernel error, got {other:?}"),
    }
}
