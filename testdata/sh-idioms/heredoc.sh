h1=$(cat <<EOT
line one
  $HOME \$HOME \\ "q"
EOT
)
h2=$(cat <<'EOT'
literal $HOME \$ \\
EOT
)
h3=$(cat <<-EOT
	tab stripped
	EOT
)
