# syntax=docker/dockerfile:1
# The image of the Cairn GitHub Action (action.yml): `cairn ci`.
# cmd/cairn/ci_action_test.go builds the same static binary with the same
# command and runs it with an empty environment in an empty folder.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -ldflags="-s -w" -o /out/cairn ./cmd/cairn

# distroless/static: CA certificates, tzdata and /tmp; no shell, no libc.
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/cairn /usr/local/bin/cairn
# No USER: GitHub runs a Docker container action as the image's default
# user and documents that it must be root ("Docker actions must be run by
# the default Docker user (root)"), since the mounted workspace and the
# file-command files ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY, ...) belong to
# the runner and a non-root user cannot always write them (self-hosted
# runners have other uids than 1001). The action writes its SARIF file,
# outputs and step summary there.
ENV HOME=/tmp
ENTRYPOINT ["cairn", "ci"]
