#!/bin/sh
# build-pkg.sh: build mailfleet-agent and wrap it in a signed installer package.
#
# macOS ONLY: it needs Xcode's command line tools (pkgbuild, productbuild, codesign,
# otool, install_name_tool) and the libraries from Homebrew (brew install cmake
# pkg-config openssl@3 libssh2 jansson libplist libxml2 cmocka).
#
#   packaging/macos/scripts/build-pkg.sh [-v VERSION] [-a "Developer ID Application: NAME (TEAMID)"]
#                                        [-i "Developer ID Installer: NAME (TEAMID)"] [-o OUTDIR]
#                                        [-k KNOWN_HOSTS] [-I FLEET_PRIVATE_KEY]
#
#   -k FILE  ship FILE as the pinned collector host key(s)
#            (/Library/Application Support/mailfleet/known_hosts)
#   -I FILE  ship FILE as the fleet-wide SSH key (.../id_ed25519, mode 0600). The package
#            then holds a secret: keep it out of public places. Without -I, each Mac makes
#            its own key on installation (docs/deployment.md compares the two).
#
# Payload (owner root:wheel):
#   /usr/local/bin/mailfleet-agent                    the agent (hardened runtime when signed)
#   /usr/local/lib/mailfleet/*.dylib                  the non-system libraries it links,
#                                                     rewritten to load from there
#   /usr/local/libexec/mailfleet-agent-run            the LaunchDaemon's random-delay wrapper
#   /Library/LaunchDaemons/org.mailfleet.agent.plist  daily + at load
#   /Library/LaunchDaemons/org.mailfleet.agent.flush.plist  retries every 15 minutes
# Scripts: pkg-scripts/preinstall (stop the jobs), pkg-scripts/postinstall (folders,
# per-Mac key, start the jobs).
#
# Without -a/-i the package is unsigned: fine for a test Mac, but the PPPC profile's
# code requirement needs a signed binary, and MDMs want a signed (and notarized) pkg:
#   xcrun notarytool submit OUT.pkg --keychain-profile PROFILE --wait
#   xcrun stapler staple OUT.pkg
set -eu

if [ "$(uname -s)" != "Darwin" ]; then
    echo "build-pkg.sh builds a macOS installer package and runs only on macOS." >&2
    exit 2
fi

here=$(cd "$(dirname "$0")/.." && pwd)     # packaging/macos
src=$(cd "$here/../.." && pwd)             # the source tree
version=$(sed -n 's/^project(mailfleet VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
app_id=""
inst_id=""
out="$src/out"
known_hosts=""
fleet_key=""
while getopts "v:a:i:o:k:I:" opt; do
    case $opt in
        v) version=$OPTARG ;;
        a) app_id=$OPTARG ;;
        i) inst_id=$OPTARG ;;
        o) out=$OPTARG ;;
        k) known_hosts=$OPTARG ;;
        I) fleet_key=$OPTARG ;;
        *) sed -n '2,38p' "$0" >&2; exit 2 ;;
    esac
done
for f in "$known_hosts" "$fleet_key"; do
    if [ -n "$f" ] && [ ! -f "$f" ]; then
        echo "build-pkg.sh: $f does not exist" >&2
        exit 2
    fi
done

work=$(mktemp -d /tmp/mailfleet-pkg.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/root"
build="$work/build"

echo "==> building mailfleet-agent $version"
prefix=$(brew --prefix 2>/dev/null || echo /opt/homebrew)
PKG_CONFIG_PATH="$prefix/opt/openssl@3/lib/pkgconfig:$prefix/opt/libxml2/lib/pkgconfig:${PKG_CONFIG_PATH:-}" \
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
          -DCMAKE_OSX_DEPLOYMENT_TARGET=12.0 >/dev/null
cmake --build "$build" --target mailfleet-agent -j "$(sysctl -n hw.ncpu)"

echo "==> staging the payload"
install -d "$root/usr/local/bin" "$root/usr/local/lib/mailfleet" "$root/usr/local/libexec" \
           "$root/Library/LaunchDaemons"
bin="$root/usr/local/bin/mailfleet-agent"
install -m 0755 "$build/agent/mailfleet-agent" "$bin"
install -m 0755 "$here/mailfleet-agent-run" "$root/usr/local/libexec/mailfleet-agent-run"
install -m 0644 "$here/org.mailfleet.agent.plist" "$here/org.mailfleet.agent.flush.plist" \
        "$root/Library/LaunchDaemons/"
support="$root/Library/Application Support/mailfleet"
if [ -n "$known_hosts" ] || [ -n "$fleet_key" ]; then
    install -d -m 0755 "$support"
fi
[ -z "$known_hosts" ] || install -m 0644 "$known_hosts" "$support/known_hosts"
if [ -n "$fleet_key" ]; then
    install -m 0600 "$fleet_key" "$support/id_ed25519"
    [ ! -f "$fleet_key.pub" ] || install -m 0644 "$fleet_key.pub" "$support/id_ed25519.pub"
fi

# Bundle every library that is not part of macOS, and point the binary (and the
# libraries themselves) at the copies. A Mac in the fleet has no Homebrew.
libdir="$root/usr/local/lib/mailfleet"
pending="$bin"
rounds=0
while [ -n "$pending" ] && [ $rounds -lt 10 ]; do
    next=""
    for f in $pending; do
        for dep in $(otool -L "$f" | awk 'NR > 1 { print $1 }'); do
            case $dep in /usr/lib/* | /System/* | @*) continue ;; esac
            name=$(basename "$dep")
            if [ ! -f "$libdir/$name" ]; then
                cp "$dep" "$libdir/$name"
                chmod 0644 "$libdir/$name"
                install_name_tool -id "@loader_path/$name" "$libdir/$name"
                next="$next $libdir/$name"
            fi
            if [ "$f" = "$bin" ]; then
                install_name_tool -change "$dep" "@executable_path/../lib/mailfleet/$name" "$f"
            else
                install_name_tool -change "$dep" "@loader_path/$name" "$f"
            fi
        done
    done
    pending=$next
    rounds=$((rounds + 1))
done

if [ -n "$app_id" ]; then
    echo "==> signing with $app_id"
    for lib in "$libdir"/*.dylib; do
        [ -f "$lib" ] && codesign --force --timestamp --options runtime --sign "$app_id" "$lib"
    done
    codesign --force --timestamp --options runtime --identifier org.mailfleet.agent \
             --sign "$app_id" "$bin"
    echo "    designated requirement (paste it into the PPPC profile's CodeRequirement):"
    codesign -d -r- "$bin" 2>&1 | sed -n 's/^designated => /    /p'
else
    # install_name_tool invalidated the signatures; an ad-hoc one keeps arm64 happy.
    for lib in "$libdir"/*.dylib; do [ -f "$lib" ] && codesign --force --sign - "$lib"; done
    codesign --force --sign - --identifier org.mailfleet.agent "$bin"
    echo "    unsigned build (ad-hoc signature): for test Macs only"
fi

echo "==> packaging"
mkdir -p "$out"
component="$work/mailfleet-agent-component.pkg"
pkgbuild --root "$root" --identifier org.mailfleet.agent --version "$version" \
         --scripts "$here/pkg-scripts" --install-location / --ownership recommended "$component"
product="$out/mailfleet-agent-$version.pkg"
if [ -n "$inst_id" ]; then
    productbuild --package "$component" --identifier org.mailfleet.agent.product \
                 --version "$version" --sign "$inst_id" "$product"
else
    productbuild --package "$component" --identifier org.mailfleet.agent.product \
                 --version "$version" "$product"
fi
echo "==> $product"
