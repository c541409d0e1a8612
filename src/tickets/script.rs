//! The ticket script (`ticketsystem: script`, the default): the daemon's way, unchanged.
//! Its answer is the positive number it printed; it cannot be asked what it made, so a
//! run that printed nothing is retried with the same ZENTICKET_IDEMPOTENCY_KEY.

use super::{Answer, Request, System, Ticket};
use crate::config::Config;
use crate::script;

pub struct Script<'a> {
    cfg: &'a Config,
}

impl<'a> Script<'a> {
    pub fn new(cfg: &'a Config) -> Script<'a> {
        Script { cfg }
    }

    fn context<'r>(&self, r: &'r Request) -> script::Context<'r> {
        script::Context {
            customer_id: &r.customer.id,
            queue: &r.customer.queue,
            collector: r.collector,
            note_title: r.note_title,
        }
    }
}

impl System for Script<'_> {
    fn name(&self) -> &'static str {
        "script"
    }

    fn create(&self, r: &Request) -> Answer<Ticket> {
        let Some(path) = &self.cfg.ticketscript else {
            return Answer::Failed("no ticketscript in [GENERAL]".into());
        };
        let (args, _) = script::argv(r.ev, &self.context(r));
        let count = r.ev.count.unwrap_or(0);
        let out = script::run(
            path,
            &args,
            (&r.ev.evid, count, r.key),
            self.cfg.scripttimeout,
        );
        let Some(id) = out.ticket() else {
            return Answer::Failed(out.failure(path));
        };
        if !out.succeeded() {
            let status = if out.timed_out {
                "was killed at the timeout".to_string()
            } else {
                out.status
                    .map_or("ended oddly".into(), |s| format!("ended with {s}"))
            };
            log::warn!(
                "evid {}: {} printed ticket {id} but {status}; the ticket counts (a retry would make a second one)",
                r.ev.evid,
                path.display()
            );
        }
        Answer::Done(Ticket {
            id,
            reference: None,
            link: None,
        })
    }

    fn clear(&self, t: &Ticket, r: &Request, _text: &str) -> Answer<bool> {
        let Some(path) = &self.cfg.clearscript else {
            return Answer::Done(false);
        };
        let mut args: Vec<std::ffi::OsString> = vec!["-ticket".into(), t.id.clone().into()];
        args.extend(script::argv(r.ev, &self.context(r)).0);
        let count = r.ev.count.unwrap_or(0);
        let key = format!("{}-clear", r.key);
        let out = script::run(
            path,
            &args,
            (&r.ev.evid, count, &key),
            self.cfg.scripttimeout,
        );
        if out.succeeded() {
            Answer::Done(true)
        } else {
            Answer::Failed(out.failure(path))
        }
    }

    fn preview(&self, r: &Request) -> Result<String, String> {
        let path = self
            .cfg
            .ticketscript
            .as_ref()
            .ok_or("no ticketscript in [GENERAL]")?;
        let (args, _) = script::argv(r.ev, &self.context(r));
        Ok(script::show_argv(path, &args))
    }
}
