//! A kubeconfig that points at the stand-in (plain HTTP, no credentials).

pub fn render(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kube-standin
  cluster:
    server: {url}
contexts:
- name: kube-standin
  context:
    cluster: kube-standin
    user: kube-standin
    namespace: default
current-context: kube-standin
preferences: {{}}
users:
- name: kube-standin
  user:
    token: kube-standin
"
    )
}
