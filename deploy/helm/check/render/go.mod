module maestro.local/helmrender

go 1.22
