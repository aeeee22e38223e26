import ArgumentParser
import Control
import Foundation
import Platform

/// `armvisor`: runs a guest in the foreground (`run`) or drives armvisord over its control
/// socket (every other subcommand).
@main
struct Armvisor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "armvisor",
        abstract: "A KVM/ARM-style hypervisor simulator.",
        discussion: """
            Daemon commands reach armvisord at --socket, $ARMVISOR_SOCKET, or the default path \
            (/run/armvisor/armvisord.sock for root, else ${XDG_RUNTIME_DIR:-/tmp}/armvisor-$UID/armvisord.sock). \
            --socket and --json may also come before the subcommand.
            """,
        version: ControlProtocol.softwareVersion,
        subcommands: [
            Run.self, Create.self, Define.self, Undefine.self, Start.self, Pause.self, Resume.self, Stop.self,
            Kill.self, Reset.self, Wait.self, List.self, Info.self,
            Stats.self, Translate.self, Regs.self, ReadMemory.self, Events.self, Destroy.self,
            Console.self, Top.self, Ping.self, Version.self,
        ])

    static func main() {
        let arguments = GlobalOptions.movedAfterSubcommand(Array(CommandLine.arguments.dropFirst()))
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            exit(withError: error)
        }
        do {
            try command.run()
        } catch let error as ControlClientError {
            fail(error.description)
        } catch let error as ConfigurationError {
            fail(error.message)
        } catch let error as UnexpectedReply {
            fail(error.description)
        } catch {
            // Help, exit codes, validation errors and the like.
            exit(withError: error)
        }
    }

    /// Prints `armvisor: message` to stderr and exits with status 1.
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("armvisor: \(message)\n".utf8))
        exit(withError: ExitCode.failure)
    }
}

/// Global options written before the subcommand (`armvisor --socket X list`), which
/// ArgumentParser only accepts after it.
enum GlobalOptions {
    /// `arguments` with leading `--socket X`, `--socket=X` and `--json` moved to just after the
    /// subcommand name; unchanged when no subcommand follows them.
    static func movedAfterSubcommand(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--socket", index + 1 < arguments.count {
                leading += [argument, arguments[index + 1]]
                index += 2
            } else if argument.hasPrefix("--socket=") || argument == "--json" {
                leading.append(argument)
                index += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.count, !arguments[index].hasPrefix("-") else { return arguments }
        return [arguments[index]] + leading + arguments[(index + 1)...]
    }
}
