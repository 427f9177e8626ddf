// Package install changes what a playpen holds (SPEC §1.6, §8.3): `init`
// makes one, `new-service` registers an installed package's service,
// package managers' calls keep installed-packages in step, and purge
// removes what a removed package's services left behind. Every list is
// edited under its lock and replaced atomically.
package install
