//! Planning an import: every row of the template sorted into New, Update, Unchanged or Problem,
//! with the desired state of every user to create or change (docs/validation.md, docs/matching.md, docs/changes.md).
//!
//! Linear in rows and users: one pass to index the users, one pass over the rows. A large
//! template's rows are decided and assembled in one run of rows per core, joined in row order.

use foldhash::HashMap;

use super::changes::{Changes, diff_update, new_user};
use super::fields::Field;
use super::matching::{ExistingUser, Match, RowKeys, UserIndex, fold_key};
use super::naming::record_name;
use super::results::{Counts, NewEntry, ProblemEntry, ProblemReason, UpdateEntry, UserKeys};
use super::template::{FieldColumns, Template, TemplateRow};
use super::users::{CompactSpec, Stored, StoredUsers};
use super::validation::{MAX_COUPA_USER_ID_DIGITS, RowProblems, row_list, shared, validate_rows};
use user_import_resources::TenantUserSpec;

/// What the planner needs besides the template and the users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// The Tenant's object name: new records are called `<tenant>-<coupaUserId>`.
    pub tenant: String,
    /// The tenant's `spec.ssoSync.enabled`: new and linked users get it as `ssoSynced`.
    pub sso_sync: bool,
}

/// Whether a plan keeps the writes that apply it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writes {
    /// Every create and change, each with its whole desired spec: to apply the plan.
    Keep,
    /// None (`Plan::writes` is empty): the plan is only reported, as by the command line's
    /// `plan`, which spares a copy of every changed user's spec. The sections and counts are
    /// the same.
    Skip,
}

/// A user record to create or change.
#[derive(Clone, Debug, PartialEq)]
pub struct UserWrite {
    /// The template row that asks for it.
    pub row: usize,
    /// The object name: the existing record's, or `<tenant>-<coupaUserId>` for a new one.
    pub name: String,
    /// True for a new record, false for a change to a stored one.
    pub create: bool,
    /// The whole desired spec (the stored one with the row's applicable changes), kept
    /// compactly: a plan of the largest template keeps 200,000 of them. [`UserWrite::spec`]
    /// gives it as the API takes it.
    pub desired: CompactSpec,
    /// The spec fields the write changes, by their CRD names.
    pub changed_fields: Vec<&'static str>,
}

impl UserWrite {
    /// The whole desired spec, to be written.
    pub fn spec(&self) -> TenantUserSpec {
        self.desired.to_spec()
    }
}

/// The three sections, the counts, and the writes that apply the plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// How many rows fell in each section.
    pub counts: Counts,
    /// New Data, in row order.
    pub new: Vec<NewEntry>,
    /// Update Data, in row order.
    pub update: Vec<UpdateEntry>,
    /// Problem Data, in row order.
    pub problem: Vec<ProblemEntry>,
    /// Creates and changes, in row order. Highlight-only and unchanged rows have none.
    pub writes: Vec<UserWrite>,
    /// For each entry of `problem`, the index of its row in `template.rows`.
    pub problem_rows: Vec<usize>,
}

impl Plan {
    /// Whether some Update row has a non-editable field that was highlighted and not applied.
    pub fn has_highlights(&self) -> bool {
        self.update
            .iter()
            .any(|entry| !entry.highlighted_fields.is_empty())
    }
}

/// The decision for one row before the lists are assembled. Kept small (the spec of a new
/// user is boxed): there is one per row of the template.
enum Outcome {
    New { name: String, spec: CompactSpec },
    Update { target: usize, changes: Changes },
    Problem(RowProblems, Option<usize>),
}

/// Plans the template against the tenant's users. Pure and deterministic.
pub fn plan(template: &Template, users: &[ExistingUser], options: &PlanOptions) -> Plan {
    plan_checked(
        template,
        validate_rows(template),
        &UserIndex::new(users),
        options,
        Writes::Keep,
    )
}

/// [`plan`], from the template's own checks ([`validate_rows`]) and the index of the users:
/// a caller that reads the template and the users at the same time can check the one while
/// the other is still being read. `problems` has one entry per row of the template.
pub fn plan_checked<U: StoredUsers + ?Sized>(
    template: &Template,
    problems: Vec<RowProblems>,
    index: &UserIndex<U>,
    options: &PlanOptions,
    writes: Writes,
) -> Plan {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min(template.rows.len() / ROWS_PER_THREAD).max(1);
    plan_on_threads(template, problems, index, options, writes, threads)
}

/// [`plan_checked`], deciding the rows on `threads` threads (at least one).
pub(crate) fn plan_on_threads<U: StoredUsers + ?Sized>(
    template: &Template,
    mut problems: Vec<RowProblems>,
    index: &UserIndex<U>,
    options: &PlanOptions,
    writes: Writes,
    threads: usize,
) -> Plan {
    assert_eq!(problems.len(), template.rows.len(), "one entry per row");
    let columns = FieldColumns::new(template);
    let fields: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|field| columns.has(*field))
        .collect();
    let names = if names_can_be_cut(&options.tenant) {
        let names = record_names(template, &columns, &options.tenant, &problems);
        mark_record_name_collisions(template, &columns, &names, &mut problems);
        names
    } else {
        // No collision is possible: a new user's name is made when the row turns out new.
        vec![None; template.rows.len()]
    };
    let context = RowContext {
        columns: &columns,
        fields: &fields,
        index,
        options,
        writes,
    };
    let mut runs = context.decide_all(&template.rows, problems, names, threads);
    mark_new_username_duplicates(template, &mut runs);
    let run = runs.run;
    let inputs = runs.outcomes.into_iter().enumerate().collect();
    let plans = on_threads(inputs, |(number, outcomes)| {
        assemble(template, &columns, index, outcomes, number * run, writes)
    });
    join_plans(plans)
}

/// The outcomes of the rows, in runs of consecutive rows: one run per thread that decided them,
/// to be assembled by as many threads.
struct Runs {
    /// Rows in each run (the last may have fewer).
    run: usize,
    outcomes: Vec<Vec<Outcome>>,
}

impl Runs {
    fn iter(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().flatten()
    }

    fn get_mut(&mut self, position: usize) -> &mut Outcome {
        &mut self.outcomes[position / self.run][position % self.run]
    }
}

/// `work` on each input at the same time, the last on this thread; the results in order.
fn on_threads<T: Send, R: Send>(mut inputs: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let Some(last) = inputs.pop() else {
        return Vec::new();
    };
    let work = &work;
    std::thread::scope(|scope| {
        let others: Vec<_> = inputs
            .into_iter()
            .map(|input| scope.spawn(move || work(input)))
            .collect();
        let last = work(last);
        let mut results: Vec<R> = others
            .into_iter()
            .map(|other| {
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        results.push(last);
        results
    })
}

/// The plans of consecutive runs of rows, as one plan.
fn join_plans(plans: Vec<Plan>) -> Plan {
    let total = |len: fn(&Plan) -> usize| plans.iter().map(len).sum::<usize>();
    let (new, update, problem, writes) = (
        total(|plan| plan.new.len()),
        total(|plan| plan.update.len()),
        total(|plan| plan.problem.len()),
        total(|plan| plan.writes.len()),
    );
    let mut plans = plans.into_iter();
    let mut plan = plans.next().unwrap_or_default();
    // Each list grows once, to its length, rather than doubling as runs join it.
    plan.new.reserve_exact(new - plan.new.len());
    plan.update.reserve_exact(update - plan.update.len());
    plan.problem.reserve_exact(problem - plan.problem.len());
    plan.writes.reserve_exact(writes - plan.writes.len());
    plan.problem_rows
        .reserve_exact(problem - plan.problem_rows.len());
    for run in plans {
        plan.counts.new += run.counts.new;
        plan.counts.update += run.counts.update;
        plan.counts.unchanged += run.counts.unchanged;
        plan.counts.problem += run.counts.problem;
        plan.new.extend(run.new);
        plan.update.extend(run.update);
        plan.problem.extend(run.problem);
        plan.writes.extend(run.writes);
        plan.problem_rows.extend(run.problem_rows);
    }
    plan
}

/// The fewest rows worth a thread of their own: below that, starting a thread costs more than
/// it saves.
const ROWS_PER_THREAD: usize = 10_000;

/// Whether a record name of this tenant can be cut to 253 characters.
///
/// The name of a valid id (at most [`MAX_COUPA_USER_ID_DIGITS`] digits) is the tenant's part
/// followed by the whole id unless the name is cut, so two different ids give two different
/// names whenever the longest id's name is shorter than the cut: then no two rows can collide.
fn names_can_be_cut(tenant: &str) -> bool {
    let longest_id = "9".repeat(MAX_COUPA_USER_ID_DIGITS);
    record_name(tenant, &longest_id).len() >= 253
}

/// Each row's record name, should it make a new user: None where its id is blank or invalid.
fn record_names(
    template: &Template,
    columns: &FieldColumns,
    tenant: &str,
    problems: &[RowProblems],
) -> Vec<Option<String>> {
    template
        .rows
        .iter()
        .zip(problems)
        .map(|(row, problems)| {
            let id = columns.cell(row, Field::CoupaUserId);
            let invalid = problems
                .reasons
                .contains(&ProblemReason::InvalidCoupaUserId);
            (!id.is_empty() && !invalid).then(|| record_name(tenant, id))
        })
        .collect()
}

/// Two template rows never land in one record. A record name is `<tenant>-<coupaUserId>` cut
/// to 253 characters, so with a long tenant name two different ids can give one name: the
/// first row (in template order) keeps it, and every later row with another id that gives the
/// same name is an `InvalidCoupaUserId` problem, whatever the first row turned out to be.
/// Rows with the same id are left to `DuplicateInTemplate`. `names` are the rows' record names.
fn mark_record_name_collisions(
    template: &Template,
    columns: &FieldColumns,
    names: &[Option<String>],
    problems: &mut [RowProblems],
) {
    // The first row to give each name: its id and its row number.
    let mut first: HashMap<&str, (&str, usize)> =
        HashMap::with_capacity_and_hasher(names.len(), Default::default());
    for ((row, problems), name) in template.rows.iter().zip(problems.iter_mut()).zip(names) {
        let Some(name) = name else { continue };
        let id = columns.cell(row, Field::CoupaUserId);
        match first.get(name.as_str()) {
            Some(&(first_id, number)) if first_id != id => {
                let message = format!(
                    "Coupa User ID \"{id}\" gives the same record name as Coupa User ID \"{first_id}\" of row {number} (a record name is cut to 253 characters): two users cannot share one record"
                );
                problems.add(
                    ProblemReason::InvalidCoupaUserId,
                    &[Field::CoupaUserId],
                    message,
                );
            }
            Some(_) => {}
            None => {
                first.insert(name, (id, row.number));
            }
        }
    }
}

/// What deciding a row needs besides the row.
struct RowContext<'a, U: StoredUsers + ?Sized> {
    columns: &'a FieldColumns<'a>,
    /// The fields the template has columns for, in TenantUser order.
    fields: &'a [Field],
    index: &'a UserIndex<'a, U>,
    options: &'a PlanOptions,
    writes: Writes,
}

impl<U: StoredUsers + ?Sized> RowContext<'_, U> {
    /// Decides every row. Each decision reads the template and the index only, so a large
    /// template is cut into `threads` runs of rows, decided at the same time.
    fn decide_all(
        &self,
        rows: &[TemplateRow],
        mut problems: Vec<RowProblems>,
        mut names: Vec<Option<String>>,
        threads: usize,
    ) -> Runs {
        let run = rows.len().div_ceil(threads.max(1)).max(1);
        let inputs = rows
            .chunks(run)
            .zip(problems.chunks_mut(run))
            .zip(names.chunks_mut(run))
            .collect();
        let outcomes = on_threads(inputs, |((rows, problems), names)| {
            rows.iter()
                .zip(problems)
                .zip(names)
                .map(|((row, problems), name)| {
                    self.decide(row, std::mem::take(problems), name.take())
                })
                .collect()
        });
        Runs { run, outcomes }
    }

    /// Sorts one row: validation problems first, then matching, then what an update changes.
    /// `name` is the row's record name, should it make a new user.
    fn decide(
        &self,
        row: &TemplateRow,
        mut problems: RowProblems,
        name: Option<String>,
    ) -> Outcome {
        let (index, options) = (self.index, self.options);
        let cell = |field: Field| self.columns.cell(row, field);
        let keys = RowKeys {
            id: cell(Field::CoupaUserId),
            coupa_username: cell(Field::CoupaUsername),
            email: cell(Field::Email),
        };
        match index.match_row(keys) {
            Match::Mismatch { with, fields } => {
                add_mismatch(&mut problems, index, with, &fields, &cell);
                Outcome::Problem(problems, Some(with))
            }
            Match::Update { target, .. } if !problems.is_empty() => {
                Outcome::Problem(problems, Some(target))
            }
            Match::New if !problems.is_empty() => Outcome::Problem(problems, None),
            Match::Update { target, link } => {
                let stored = index.user(target);
                let changes = diff_update(
                    self.fields,
                    &cell,
                    stored,
                    link,
                    options.sso_sync,
                    self.writes,
                );
                // A changed username is the row's Username cell: it may not be another's.
                let holder = changes
                    .changed
                    .contains(&"username")
                    .then(|| index.by_username(cell(Field::Username)))
                    .flatten()
                    .filter(|&holder| holder != target);
                match holder {
                    Some(holder) => {
                        add_mismatch(&mut problems, index, holder, &[Field::Username], &cell);
                        Outcome::Problem(problems, Some(holder))
                    }
                    None => Outcome::Update { target, changes },
                }
            }
            Match::New => {
                let spec = new_user(self.fields, &cell, options.sso_sync);
                let name = name.unwrap_or_else(|| record_name(&options.tenant, keys.id));
                let username = spec.username.as_deref().unwrap_or("");
                if let Some(holder) = index.by_username(username) {
                    add_mismatch(&mut problems, index, holder, &[Field::Username], &cell);
                    Outcome::Problem(problems, Some(holder))
                } else if let Some(holder) = index.by_name(&name) {
                    let message = format!(
                        "the record name \"{name}\" is taken by user \"{}\"",
                        index.user(holder).username()
                    );
                    problems.add(ProblemReason::Mismatch, &[Field::CoupaUserId], message);
                    Outcome::Problem(problems, Some(holder))
                } else {
                    Outcome::New {
                        name,
                        spec: CompactSpec::of(&spec),
                    }
                }
            }
        }
    }
}

/// Records a `Mismatch` with user `with` over the keys in `fields`.
fn add_mismatch<'a, U: StoredUsers + ?Sized>(
    problems: &mut RowProblems,
    index: &UserIndex<U>,
    with: usize,
    fields: &[Field],
    cell: &dyn Fn(Field) -> &'a str,
) {
    let holder = index.user(with);
    let keys: Vec<String> = fields
        .iter()
        .map(|field| format!("{} \"{}\"", field.header(), key_value(*field, cell)))
        .collect();
    let verb = if keys.len() == 1 { "belongs" } else { "belong" };
    let message = format!(
        "{} {verb} to user \"{}\" (Coupa User ID {}), not to Coupa User ID {}",
        keys.join(" and "),
        holder.username(),
        holder.get(Field::CoupaUserId).unwrap_or("none"),
        cell(Field::CoupaUserId),
    );
    problems.add(ProblemReason::Mismatch, fields, message);
}

/// The row's value of a key; a blank Username cell stands for the Coupa Username.
fn key_value<'a>(field: Field, cell: &dyn Fn(Field) -> &'a str) -> &'a str {
    match cell(field) {
        "" if field == Field::Username => cell(Field::CoupaUsername),
        value => value,
    }
}

/// Two new users of one template may not take the same username: none of them wins.
fn mark_new_username_duplicates(template: &Template, outcomes: &mut Runs) {
    // Collected first, so that the map is sized for the new users, not for every row.
    let usernames: Vec<_> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(position, outcome)| {
            let Outcome::New { spec, .. } = outcome else {
                return None;
            };
            Some((position, fold_key(spec.text(Field::Username).unwrap_or(""))))
        })
        .collect();
    for group in shared(usernames.into_iter()) {
        let rows = row_list(group.iter().map(|&position| template.rows[position].number));
        for position in group {
            let mut problems = RowProblems::default();
            let message = format!(
                "the new users of rows {rows} would share one username: none of them is applied"
            );
            problems.add(
                ProblemReason::DuplicateInTemplate,
                &[Field::Username],
                message,
            );
            *outcomes.get_mut(position) = Outcome::Problem(problems, None);
        }
    }
}

/// Turns the outcomes of a run of rows, from row position `first` on, into the three
/// sections, in row order.
fn assemble<U: StoredUsers + ?Sized>(
    template: &Template,
    columns: &FieldColumns,
    index: &UserIndex<U>,
    outcomes: Vec<Outcome>,
    first: usize,
    writes: Writes,
) -> Plan {
    let mut plan = Plan::default();
    for (position, outcome) in (first..).zip(outcomes) {
        let row = &template.rows[position];
        let id = columns.cell(row, Field::CoupaUserId);
        match outcome {
            Outcome::New { name, spec } => add_new(&mut plan, row.number, id, name, spec, writes),
            Outcome::Update { target, changes } => {
                add_update(&mut plan, row.number, id, index.user(target), changes)
            }
            Outcome::Problem(problems, with) => {
                let conflicts_with = with.map(|user| user_keys(index.user(user)));
                plan.problem.push(problem_entry(
                    row.number,
                    id.to_string(),
                    problems,
                    conflicts_with,
                ));
                plan.problem_rows.push(position);
                plan.counts.problem += 1;
            }
        }
    }
    plan
}

fn add_new(
    plan: &mut Plan,
    row: usize,
    id: &str,
    name: String,
    desired: CompactSpec,
    writes: Writes,
) {
    let spec = desired.to_spec();
    plan.new.push(NewEntry {
        row,
        coupa_user_id: id.to_string(),
        coupa_username: spec.coupa_username.clone().unwrap_or_default(),
        email: spec.email.clone().unwrap_or_default(),
        username: spec.username.clone().unwrap_or_default(),
        highlighted_fields: Vec::new(),
    });
    if writes == Writes::Keep {
        let changed_fields = Field::ALL
            .into_iter()
            .filter(|field| field.get(&spec).is_some())
            .map(Field::name)
            .collect();
        plan.writes.push(UserWrite {
            row,
            name,
            create: true,
            desired,
            changed_fields,
        });
    }
    plan.counts.new += 1;
}

fn add_update<U: StoredUsers + ?Sized>(
    plan: &mut Plan,
    row: usize,
    id: &str,
    user: Stored<U>,
    changes: Changes,
) {
    if !changes.writes_anything() && changes.highlighted.is_empty() {
        plan.counts.unchanged += 1;
        return;
    }
    plan.update.push(UpdateEntry {
        row,
        coupa_user_id: id.to_string(),
        username: user.username().to_string(),
        changed_fields: changes
            .changed
            .iter()
            .map(|name| name.to_string())
            .collect(),
        highlighted_fields: changes
            .highlighted
            .iter()
            .map(|f| f.name().into())
            .collect(),
    });
    if let Some(desired) = changes.desired {
        plan.writes.push(UserWrite {
            row,
            name: user.name().to_string(),
            create: false,
            desired,
            changed_fields: changes.changed,
        });
    }
    plan.counts.update += 1;
}

fn problem_entry(
    row: usize,
    id: String,
    problems: RowProblems,
    conflicts_with: Option<UserKeys>,
) -> ProblemEntry {
    let reason = *problems
        .reasons
        .first()
        .expect("a problem row has a reason");
    ProblemEntry {
        row,
        coupa_user_id: id,
        reason,
        fields: problems
            .fields
            .iter()
            .map(|field| field.name().into())
            .collect(),
        message: problems.messages.join("; "),
        conflicts_with,
    }
}

/// The Risk Assess fields the error report shows for a user.
fn user_keys<U: StoredUsers + ?Sized>(user: Stored<U>) -> UserKeys {
    let text = |field| user.text(field).unwrap_or("").to_string();
    UserKeys {
        username: text(Field::Username),
        coupa_username: text(Field::CoupaUsername),
        email: text(Field::Email),
    }
}
