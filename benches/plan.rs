//! Core throughput: reading a template and planning it against the tenant's users, at three
//! sizes to show that time grows linearly with rows. Run: `cargo bench --bench plan`.
//! (`scripts/bench-cli` times the whole `plan --output json` command with peak memory.)

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
mod support;

use support::{HEADER, synthetic_user};
use user_import_engine::matching::ExistingUser;
use user_import_engine::planner::{PlanOptions, plan};
use user_import_engine::results::build_results;
use user_import_engine::template::{TemplateLimits, read_template};

/// `rows` template rows against `rows` users: 40% unchanged, 30% updated, 20% new, 10% problems.
fn data(rows: usize) -> (Vec<u8>, Vec<ExistingUser>) {
    let users = (0..rows)
        .map(|i| synthetic_user("acme", i, i % 2 == 0))
        .collect();
    let mut csv = String::with_capacity(rows * 90);
    csv.push_str(HEADER);
    for i in 0..rows {
        let line = match i % 10 {
            0..=3 => {
                format!("Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,Analyst,Boston,Ops\n")
            }
            4..=6 => format!("Ann,Lee{i},user{i}@acme.test,user{i},{i},Active,Lead,Austin,Ops\n"),
            7 | 8 => {
                let n = i + rows;
                format!("Bo,Ko{n},new{n}@acme.test,new{n},{n},,Engineer,Oslo,Eng\n")
            }
            _ => format!("Cy,Ray{i},bad{i} at acme.test,bad{i},{i}x,Bogus,,,\n"),
        };
        csv.push_str(&line);
    }
    (csv.into_bytes(), users)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    let options = PlanOptions {
        tenant: "acme".into(),
        sso_sync: true,
    };
    for rows in [10_000, 50_000, 100_000] {
        let (bytes, users) = data(rows);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_with_input(
            BenchmarkId::new("read_template", rows),
            &bytes,
            |b, bytes| {
                b.iter(|| read_template(black_box(bytes), &TemplateLimits::default()).unwrap())
            },
        );
        let template = read_template(&bytes, &TemplateLimits::default()).unwrap();
        group.bench_with_input(BenchmarkId::new("plan+report", rows), &users, |b, users| {
            b.iter(|| {
                let plan = plan(black_box(&template), users, &options);
                build_results("Acme", &template, &plan, None)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
