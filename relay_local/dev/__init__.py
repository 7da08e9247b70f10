"""The Docker-free dev stack (`relay demo|local|invoke|serve`, the integration tests, the soak).

- the embedded AWS: `embedded` (moto server on loopback), made as strict as AWS where moto is
  looser (`strict_dynamodb`, `strict_s3`, `strict_sqs`, `lambda_limits`), with each function's
  calls checked against its SAM-transformed role (`iam`, `iam_actions`, `iam_roles`);
- template.yaml's resources on it (`stack`), its functions run in-process (`invoker`), fed by their
  queues (`poller`) and API (`serve`);
- the Push API stand-in (`standin`), all of it together (`session`), ports (`ports`), `demo`.
"""
