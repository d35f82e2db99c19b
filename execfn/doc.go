// Package execfn serves functions that a manifest alone defines: a
// function whose entry has exec runs that command, one process per call,
// and its standard output is the result.
//
//	functions:
//	  - funct_name: sha256
//	    args_list:
//	      - {arg_name: path, arg_type: string}
//	    return_type: string
//	    exec: [sh, -c, 'h=$(sha256sum < "$1") && echo "${h%% *}"', sh, "{path}"]
//
// Service turns such a manifest into a servicehost.Service, so the
// functions are hosted exactly as Go services are: arguments checked
// against the manifest (a 400 before anything runs), announced to the
// catalog and withdrawn, $SRV metadata, the service's concurrency, the
// durable lane, a graceful stop. dpc-service does this for
// `dpc-service --manifest FILE` without a service name.
//
// A call runs the command without a shell: each element of exec is one
// word of the command line, and a placeholder {name} in an element is
// replaced, within that element, by argument name, formatted as
// manifests.FormatValue shows it to a person (a string as it is, 42,
// 2.5, true; bytes as their raw bytes). A list argument becomes one word
// per item, and its placeholder must be a whole element. Nothing a caller
// sends is ever read as shell syntax: "; rm -rf /" arrives as one word.
//
// The result is the command's standard output, read by the function's
// return_type: a string is the output less one trailing newline; int,
// float, bool and char are read as manifests.ParseValue reads what a
// person types (white space around them ignored); bytes are the output
// as it is; a list is one item per line. The output is bounded
// (DefaultMaxOutput); what does not fit, or does not parse, is a 500
// naming the function and what was wrong. A non-zero exit is a 500 with
// the end of standard error.
//
// Each call runs in a process group of its own, with a minimal
// environment (Environ) and standard input from /dev/null. The
// function's timeout (its manifest's, else DefaultTimeout), or the end
// of the call's context, kills the whole group; so does the command's
// exit, for what it left running in the background. manifests/README.md
// is the full reference.
package execfn
