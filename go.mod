module github.com/cairnops/cairn

go 1.26.0
