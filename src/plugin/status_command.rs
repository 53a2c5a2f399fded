//! `kubectl user-import status NAME`: the UserImport's status, once, or redrawn on every change
//! until the import is Ready (`--watch`).

use std::io::Write;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher::watch_object;
use kube::{Api, Client};
use serde_json::Value;

use super::view::{is_failed_or_stalled, is_ready, render_status};
use super::{EXIT_IMPORT_FAILED, EXIT_OK, Output, PluginError, StatusArgs, Terminal};
use user_import_resources::UserImport;

/// A UserImport as read: typed for the view, and its status exactly as the server sent it for
/// `-o json|yaml` (fields this version does not know are kept).
struct Observed {
    import: UserImport,
    status: Value,
}

impl Observed {
    fn from_dynamic(object: DynamicObject) -> Result<Observed, PluginError> {
        let status = object
            .data
            .get("status")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let value = serde_json::to_value(&object).map_err(anyhow::Error::from)?;
        let import = serde_json::from_value(value)
            .map_err(|error| anyhow::anyhow!("the UserImport cannot be read: {error}"))?;
        Ok(Observed { import, status })
    }

    /// 1 when the import is Failed or Stalled, else 0.
    fn exit_code(&self) -> u8 {
        if is_failed_or_stalled(&self.import) {
            EXIT_IMPORT_FAILED
        } else {
            EXIT_OK
        }
    }
}

/// Runs `status`: prints, and returns the exit status.
pub(crate) async fn run(
    client: &Client,
    namespace: &str,
    args: &StatusArgs,
    output: Output,
    terminal: Terminal,
) -> Result<u8, PluginError> {
    let name = &args.target.name;
    // Dynamic, so that `-o json` shows the status exactly as stored.
    let resource = ApiResource::erase::<UserImport>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let object = api
        .get_opt(name)
        .await?
        .ok_or_else(|| not_found(name, namespace))?;
    let observed = Observed::from_dynamic(object)?;
    if !args.watch {
        print(&render(&observed, output, terminal)?)?;
        return Ok(observed.exit_code());
    }
    let mut screen = Screen {
        output,
        terminal,
        last: None,
        footer: format!(
            "\nWatching until Ready (timeout {}); Ctrl-C to stop.\n",
            humanize(args.timeout)
        ),
    };
    screen.draw(&observed)?;
    if is_ready(&observed.import) {
        return Ok(observed.exit_code());
    }
    let deadline = tokio::time::Instant::now() + args.timeout;
    let changes = watch_object(api, name);
    let mut changes = std::pin::pin!(changes);
    let mut last = observed;
    let mut reported_error = false;
    loop {
        let next = match tokio::time::timeout_at(deadline, changes.next()).await {
            Ok(next) => next,
            Err(_) => {
                eprintln!(
                    "error: timed out after {}: {namespace}/{name} is not Ready (phase {})",
                    humanize(args.timeout),
                    last.import
                        .status
                        .as_ref()
                        .and_then(|status| status.phase)
                        .map_or_else(|| "none yet".into(), |phase| format!("{phase:?}")),
                );
                return Ok(EXIT_IMPORT_FAILED);
            }
        };
        match next {
            Some(Ok(Some(object))) => {
                reported_error = false;
                let observed = Observed::from_dynamic(object)?;
                screen.draw(&observed)?;
                if is_ready(&observed.import) {
                    return Ok(observed.exit_code());
                }
                last = observed;
            }
            Some(Ok(None)) => {
                return Err(PluginError::Failed(anyhow::anyhow!(
                    "{namespace}/{name} was deleted while watching"
                )));
            }
            Some(Err(error)) => {
                // The watcher starts again by itself on the next poll: say it once, pause a
                // little so that a refused watch does not spin, and keep going until the deadline.
                if !reported_error {
                    eprintln!("warning: watching {namespace}/{name}: {error}; retrying");
                    reported_error = true;
                }
                let pause = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
                tokio::time::sleep_until(pause.min(deadline)).await;
            }
            None => {
                return Err(PluginError::Failed(anyhow::anyhow!(
                    "the watch of {namespace}/{name} ended"
                )));
            }
        }
    }
}

/// Where `--watch` draws: in place on a terminal, else one drawing per change.
struct Screen {
    output: Output,
    terminal: Terminal,
    /// The last drawing, so that a change the view does not show draws nothing.
    last: Option<String>,
    footer: String,
}

impl Screen {
    fn draw(&mut self, observed: &Observed) -> Result<(), PluginError> {
        let text = render(observed, self.output, self.terminal)?;
        if self.last.as_ref() == Some(&text) {
            return Ok(());
        }
        let in_place = self.terminal.is_terminal && self.output == Output::Table;
        let drawing = if in_place {
            // Home, clear the screen: the view replaces the previous one, as `watch` does. The
            // last drawing (Ready) has no "watching" line: the command returns with it.
            let footer = if is_ready(&observed.import) {
                ""
            } else {
                &self.footer
            };
            format!("\x1b[H\x1b[2J{text}{footer}")
        } else if self.last.is_none() {
            text.clone()
        } else {
            let separator = match self.output {
                Output::Table => "\n",
                Output::Yaml => "---\n",
                Output::Json => "",
            };
            format!("{separator}{text}")
        };
        print(&drawing)?;
        self.last = Some(text);
        Ok(())
    }
}

fn render(observed: &Observed, output: Output, terminal: Terminal) -> Result<String, PluginError> {
    let text = match output {
        Output::Table => render_status(&observed.import, terminal.color),
        Output::Json => {
            let mut text =
                serde_json::to_string_pretty(&observed.status).map_err(anyhow::Error::from)?;
            text.push('\n');
            text
        }
        Output::Yaml => serde_norway::to_string(&observed.status).map_err(anyhow::Error::from)?,
    };
    Ok(text)
}

fn print(text: &str) -> Result<(), PluginError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| PluginError::Failed(anyhow::anyhow!("writing the output: {error}")))
}

/// The error for a UserImport that is not there, in kubectl's words.
pub(crate) fn not_found(name: &str, namespace: &str) -> PluginError {
    PluginError::Failed(anyhow::anyhow!(
        "userimports.riskassess.io {name:?} not found in namespace {namespace:?}"
    ))
}

/// `10m`, `1h30m`, `45s`: a duration as `--timeout` takes it.
fn humanize(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || text.is_empty() {
        text.push_str(&format!("{seconds}s"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_they_are_written() {
        use std::time::Duration;
        assert_eq!(humanize(Duration::from_secs(600)), "10m");
        assert_eq!(humanize(Duration::from_secs(5400)), "1h30m");
        assert_eq!(humanize(Duration::from_secs(45)), "45s");
        assert_eq!(humanize(Duration::ZERO), "0s");
    }
}
